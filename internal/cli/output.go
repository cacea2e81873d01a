package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

func printTenants(w io.Writer, format string, page catalog.Page) error {
	if format == "json" {
		return writeJSON(w, page)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSLUG\tNAME\tSTATUS\tPLAN\tCREATED")
	for _, t := range page.Tenants {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Slug, t.Name, status(t), t.Plan, t.CreatedAt.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(w, "more: --after %s\n", page.Next)
	}
	return nil
}

func printTenant(w io.Writer, format string, t catalog.Tenant) error {
	if format == "json" {
		return writeJSON(w, t)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"ID", t.ID.String()}, {"Slug", t.Slug}, {"Name", t.Name}, {"Status", status(t)},
		{"Plan", t.Plan}, {"Created", t.CreatedAt.UTC().Format(time.RFC3339)},
		{"Updated", t.UpdatedAt.UTC().Format(time.RFC3339)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func status(t catalog.Tenant) string {
	if t.Status == catalog.StatusSuspended && t.SuspensionReason != "" {
		return t.Status + " (" + t.SuspensionReason + ")"
	}
	return t.Status
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
