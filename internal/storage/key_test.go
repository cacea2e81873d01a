package storage_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/storage"
)

func TestCheckKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"docs/2024/report.pdf", true},
		{"with space/ünïcode ✓.txt", true},
		{"a..b/c.", true},
		{".hidden/.file", true},
		{strings.Repeat("k", storage.MaxKeyLen), true},
		{"", false},
		{strings.Repeat("k", storage.MaxKeyLen+1), false},
		{"/abs", false},
		{"a/", false},
		{"a//b", false},
		{".", false},
		{"..", false},
		{"../a", false},
		{"a/..", false},
		{"a/../b", false},
		{"a/./b", false},
		{`a\b`, false},
		{`..\..\x`, false},
		{"a\x00b", false},
		{"a\tb", false},
		{"a\x7f", false},
		{"a\u0085b", false},
		{"\xff\xfe", false},
	} {
		err := storage.CheckKey(c.key)
		if (err == nil) != c.ok {
			t.Errorf("CheckKey(%q) = %v, want ok=%v", c.key, err, c.ok)
		}
		if err != nil && !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("CheckKey(%q) = %v, does not wrap ErrInvalidKey", c.key, err)
		}
	}
}

func ExampleCheckKey() {
	fmt.Println(storage.CheckKey("invoices/2024/0001.pdf"))
	fmt.Println(storage.CheckKey("invoices/../../etc/passwd"))
	// Output:
	// <nil>
	// storage: invalid key: "invoices/../../etc/passwd" has a ".." segment
}
