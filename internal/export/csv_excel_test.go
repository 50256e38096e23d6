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
	plainData, excelData := fileBytes(t, plain), fileBytes(t, excel)
	bom := []byte{0xEF, 0xBB, 0xBF}
	if bytes.HasPrefix(plainData, bom) {
		t.Error("the tools' CSV starts with a byte order mark")
	}
	if !bytes.Equal(excelData, append(bom, plainData...)) {
		t.Errorf("Excel CSV is not the BOM and the same records:\n%q\n%q", excelData, plainData)
	}
	if !bytes.HasSuffix(excelData, []byte("\r\n")) || bytes.Count(excelData, []byte("\r\n")) != bytes.Count(plainData, []byte("\r\n")) {
		t.Errorf("records not ended by CRLF: %q", excelData)
	}
	if excel.Name != "Op-ration-Violet-tests-excel.csv" || excel.UnicodeName != "Opération-Violet-tests-excel.csv" ||
		excel.ContentType != "text/csv; charset=utf-8" {
		t.Errorf("file %q %q %q", excel.Name, excel.UnicodeName, excel.ContentType)
	}
}

// fileBytes is the whole of an export, streamed or not.
func fileBytes(t *testing.T, f export.File) []byte {
	t.Helper()
	data, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return data
}
