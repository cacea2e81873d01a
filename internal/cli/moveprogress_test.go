package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
	"github.com/tenantkit/tenantkit/internal/move"
)

// A copy that starts and ends between two polls still gets a line, from
// the table counts left in the progress; a view that starts after the copy
// prints none.
func TestLineViewReportsACopyDoneBetweenPolls(t *testing.T) {
	prog, err := json.Marshal(move.Progress{Tables: []move.TableProgress{
		{Name: "customers", RowsTotal: 3, RowsCopied: 3, Done: true},
		{Name: "orders", RowsTotal: 12, RowsCopied: 12, Done: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	catching := catalog.Move{TenantkitMove: catalogdb.TenantkitMove{State: catalog.MoveCatchingUp, Progress: prog}}

	var out strings.Builder
	v := &lineView{w: &out}
	v.show(catalog.Move{TenantkitMove: catalogdb.TenantkitMove{State: catalog.MovePreparing, Progress: []byte(`{}`)}})
	v.show(catching)
	v.show(catalog.Move{TenantkitMove: catalogdb.TenantkitMove{State: catalog.MoveComplete, Progress: prog}})
	want := "preparing\ncopying: 2/2 tables done\ncatching_up: lag 0 B / 0.0s, 0 changes applied\ncomplete\n"
	if out.String() != want {
		t.Fatalf("lines:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	v = &lineView{w: &out}
	v.show(catching)
	if strings.Contains(out.String(), "copying") {
		t.Fatalf("a view that starts after the copy printed a copy line:\n%s", out.String())
	}
}
