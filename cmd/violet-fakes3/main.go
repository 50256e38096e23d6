// Command violet-fakes3 is a TEST STAND-IN for MinIO, for `make
// deploy-test` on machines that cannot pull the minio/minio and minio/mc
// images (scripts/image-standins builds them from it). It is not an object
// store to keep anything in: objects live in memory (gofakes3's s3mem
// backend, the one the evidence store tests use) and requests are not
// authenticated.
//
// It answers to the two command lines deploy/compose.yaml gives MinIO's
// images:
//
//	violet-fakes3 server DIR [--address :9000] [--console-address ADDR]
//	    serve S3 on :9000 (DIR and the console address are ignored)
//	mc alias set NAME URL ACCESS_KEY SECRET_KEY
//	mc mb [--ignore-existing] NAME/BUCKET
//	mc ready NAME
//	    (called as mc: a symbolic link, or the first argument) the few
//	    MinIO client commands the compose file uses; the alias "local"
//	    is http://localhost:9000 unless set
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	args := os.Args[1:]
	if filepath.Base(os.Args[0]) != "mc" && len(args) > 0 && args[0] == "mc" {
		args = args[1:]
		os.Args[0] = "mc"
	}
	var err error
	if filepath.Base(os.Args[0]) == "mc" {
		err = mc(args)
	} else {
		err = server(args)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

func server(args []string) error {
	if len(args) == 0 || args[0] != "server" {
		return errors.New("usage: violet-fakes3 server DIR [--address :9000] [--console-address ADDR]")
	}
	addr := ":9000"
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--address" && i+1 < len(args):
			addr = args[i+1]
			i++
		case strings.HasPrefix(a, "--address="):
			addr = strings.TrimPrefix(a, "--address=")
		case a == "--console-address":
			i++ // ignored: there is no console
		}
	}
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	log.Printf("violet-fakes3: a TEST STAND-IN for MinIO (in memory, no authentication) on %s", addr)
	srv := &http.Server{Addr: addr, Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// aliasFile keeps the aliases `mc alias set` defines.
func aliasFile() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" || home == "/" {
		home = os.TempDir()
	}
	return filepath.Join(home, ".violet-fakes3-mc")
}

func aliasURL(name string) (string, error) {
	if f, err := os.Open(aliasFile()); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		url := ""
		for sc.Scan() {
			if n, u, ok := strings.Cut(sc.Text(), " "); ok && n == name {
				url = u // the last definition wins
			}
		}
		if url != "" {
			return url, nil
		}
	}
	if name == "local" {
		return "http://localhost:9000", nil
	}
	return "", fmt.Errorf("no alias %q (mc alias set %s URL KEY SECRET)", name, name)
}

func mc(args []string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	switch {
	case len(args) == 6 && args[0] == "alias" && args[1] == "set":
		f, err := os.OpenFile(aliasFile(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(f, "%s %s\n", args[2], strings.TrimRight(args[3], "/")); err != nil {
			f.Close()
			return err
		}
		fmt.Printf("Added `%s` successfully.\n", args[2])
		return f.Close()
	case len(args) >= 2 && args[0] == "mb":
		ignore := false
		target := ""
		for _, a := range args[1:] {
			switch {
			case a == "--ignore-existing" || a == "-p":
				ignore = true
			case !strings.HasPrefix(a, "-"):
				target = a
			}
		}
		name, bucket, ok := strings.Cut(target, "/")
		if !ok || bucket == "" {
			return fmt.Errorf("mb: want ALIAS/BUCKET, got %q", target)
		}
		base, err := aliasURL(name)
		if err != nil {
			return err
		}
		req, err := http.NewRequest(http.MethodPut, base+"/"+bucket, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			fmt.Printf("Bucket created successfully `%s`.\n", target)
		case resp.StatusCode == http.StatusConflict && ignore:
			fmt.Printf("Bucket `%s` exists already.\n", target)
		default:
			return fmt.Errorf("mb %s: %s: %s", target, resp.Status, body)
		}
		return nil
	case len(args) == 2 && args[0] == "ready":
		base, err := aliasURL(args[1])
		if err != nil {
			return err
		}
		resp, err := client.Get(base + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		fmt.Printf("The cluster '%s' is ready\n", args[1])
		return nil
	}
	return fmt.Errorf("a test stand-in: only `alias set`, `mb` and `ready` are implemented, not %q", strings.Join(args, " "))
}
