package bench

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"violet/internal/testkit/sqltrace"
)

// SQLFloor returns an operation that sends a page's own statements, as
// recorded while it was served, through database/sql on the same pool settings
// and scans every row into raw bytes: what the page would cost with nothing
// but its SQL (the SQL floor).
func SQLFloor(db *sql.DB, stmts []sqltrace.Statement) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, st := range stmts {
			if st.Exec {
				if _, err := db.ExecContext(ctx, st.Query, st.Args...); err != nil {
					return fmt.Errorf("floor exec: %w", err)
				}
				continue
			}
			rows, err := db.QueryContext(ctx, st.Query, st.Args...)
			if err != nil {
				return fmt.Errorf("floor query: %w", err)
			}
			cols, err := rows.Columns()
			if err != nil {
				rows.Close()
				return err
			}
			dest := make([]any, len(cols))
			for i := range dest {
				dest[i] = new(sql.RawBytes)
			}
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					rows.Close()
					return err
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	}
}

// HTTPFloor is an echo server answering GET /floor/:size with size bytes of
// HTML built in advance, for each of sizes: the cost of serving a page of that
// size with no work at all (the HTTP floor).
func HTTPFloor(sizes []int) http.Handler {
	line := []byte("<div class=\"row\"><span>floor</span><span>0123456789abcdef</span></div>\n")
	bodies := make(map[int][]byte, len(sizes))
	for _, n := range sizes {
		bodies[n] = bytes.Repeat(line, n/len(line)+1)[:n]
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/floor/:size", func(c echo.Context) error {
		n, err := strconv.Atoi(c.Param("size"))
		b, ok := bodies[n]
		if err != nil || !ok {
			return echo.ErrNotFound
		}
		return c.Blob(http.StatusOK, echo.MIMETextHTMLCharsetUTF8, b)
	})
	return e
}
