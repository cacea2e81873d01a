package settings_test

import (
	"errors"
	"fmt"

	"github.com/tenantkit/tenantkit/internal/settings"
)

// Example walks one settings write and one read: patch, validate, diff for
// the audit row, then defaults on read.
func Example() {
	schema, err := settings.Compile(settings.RestaurantSchema())
	if err != nil {
		panic(err)
	}
	stored := []byte(`{"currency":"EUR"}`) // what the catalog holds, version 3

	// PATCH with If-Match.
	if version, ok := settings.ParseETag(`"v3"`); !ok || version != 3 {
		panic("stale")
	}
	next, err := settings.MergePatch(stored, []byte(`{"currency":null,"notifications":{"email_digest":"daily"}}`))
	if err != nil {
		panic(err)
	}
	if err := schema.Validate(next); err != nil {
		panic(err)
	}
	changes, _ := settings.Diff(stored, next)
	for _, c := range changes {
		fmt.Printf("%s: %v -> %v\n", c.Pointer, c.Before, c.After)
	}
	fmt.Println("ETag:", settings.ETag(4))

	// A request handler reads.
	read, _ := schema.WithDefaults(next)
	values, _ := settings.NewValues(read)
	fmt.Println(values.String("/currency"), values.String("/notifications/email_digest"))

	// A bad write.
	err = schema.Validate([]byte(`{"tax_rate":"high","notifications":{"email_digest":"hourly"}}`))
	var ve *settings.ValidationError
	if errors.As(err, &ve) {
		for _, f := range ve.Errors {
			fmt.Printf("%s %s\n", f.Pointer, f.Message)
		}
	}
	// Output:
	// /currency: EUR -> <nil>
	// /notifications: <nil> -> map[email_digest:daily]
	// ETag: "v4"
	// USD daily
	// /notifications/email_digest must be one of "daily", "weekly", "never"
	// /tax_rate must be number, got string
}
