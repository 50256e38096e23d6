package export_test

import (
	"bytes"
	"testing"

	"violet/internal/export"
)

// TestTestsCSVForExcel: the Excel variant is the tools' CSV, byte for
// byte, after a UTF-8 byte order mark (records end in CRLF), under its
// own name; the tools' CSV has no mark.
func TestTestsCSVForExcel(t *testing.T) {
	w := setup(t)
	ctx, a := w.access(t, "lead")
	plain, err := export.TestsCSV(ctx, w.client, a)
	if err != nil {
		t.Fatal(err)
	}
	excel, err := export.TestsCSVForExcel(ctx, w.client, a)
	if err != nil {
		t.Fatal(err)
	}
	bom := []byte{0xEF, 0xBB, 0xBF}
	if bytes.HasPrefix(plain.Data, bom) {
		t.Error("the tools' CSV starts with a byte order mark")
	}
	if !bytes.Equal(excel.Data, append(bom, plain.Data...)) {
		t.Errorf("Excel CSV is not the BOM and the same records:\n%q\n%q", excel.Data, plain.Data)
	}
	if !bytes.HasSuffix(excel.Data, []byte("\r\n")) || bytes.Count(excel.Data, []byte("\r\n")) != bytes.Count(plain.Data, []byte("\r\n")) {
		t.Errorf("records not ended by CRLF: %q", excel.Data)
	}
	if excel.Name != "Op-ration-Violet-tests-excel.csv" || excel.UnicodeName != "Opération-Violet-tests-excel.csv" ||
		excel.ContentType != "text/csv; charset=utf-8" {
		t.Errorf("file %q %q %q", excel.Name, excel.UnicodeName, excel.ContentType)
	}
}
