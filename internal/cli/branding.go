package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/brandasset"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// brandingOps is what the branding commands need, against the catalog or
// through a server.
type brandingOps interface {
	GetBranding(ctx context.Context, ref string) (catalog.Branding, error)
	SetBranding(ctx context.Context, ref string, b catalog.Branding, ifVersion *int64) (catalog.Branding, error)
}

var (
	_ brandingOps = directOps{}
	_ brandingOps = apiOps{}
)

func (d directOps) GetBranding(ctx context.Context, ref string) (catalog.Branding, error) {
	b, err := d.store.GetBranding(ctx, ref)
	return b, problemErr(err)
}

func (d directOps) SetBranding(ctx context.Context, ref string, b catalog.Branding, ifVersion *int64) (catalog.Branding, error) {
	out, err := d.store.ReplaceBranding(ctx, d.actor, ref, b, ifVersion)
	return out, problemErr(err)
}

func (a apiOps) GetBranding(ctx context.Context, ref string) (catalog.Branding, error) {
	return conv[catalog.Branding](a.c.GetBranding(ctx, ref))
}

func (a apiOps) SetBranding(ctx context.Context, ref string, b catalog.Branding, ifVersion *int64) (catalog.Branding, error) {
	cb, err := conv[clientBranding](b, nil)
	if err != nil {
		return catalog.Branding{}, err
	}
	return conv[catalog.Branding](a.c.SetBranding(ctx, ref, cb, ifVersion))
}

// brandingFields are the flags of branding set, by JSON name.
var brandingFields = []struct{ flag, help string }{
	{"display_name", "the product's name"}, {"logo_url", "https URL of the logo, on the asset host"},
	{"favicon_url", "https URL of the favicon, on the asset host"}, {"primary_color", "a CSS colour"},
	{"secondary_color", "a CSS colour"}, {"accent_color", "a CSS colour"}, {"font_family", "a CSS font family list"},
	{"custom_css", "custom CSS, or @FILE to read it from a file (sanitized; refused when hostile)"},
	{"support_email", "a bare email address"}, {"from_name", "who the tenant's mail comes from"},
	{"from_email", "the address the mail comes from (used only on the tenant's verified domain)"},
	{"support_url", "https URL"}, {"terms_url", "https URL"}, {"privacy_url", "https URL"},
}

func newBrandingCmd(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "branding", Short: "A tenant's white-label branding: colours, font, logo, custom CSS, links"}
	with := func(fn func(ctx context.Context, ops brandingOps, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			ops, done, err := connectAs[brandingOps](cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			return fn(cmd.Context(), ops, args)
		}
	}
	get := &cobra.Command{
		Use:   "get SLUG",
		Short: "Show a tenant's branding",
		Args:  exactArgs(1, "one tenant SLUG"),
		RunE: with(func(ctx context.Context, ops brandingOps, args []string) error {
			b, err := ops.GetBranding(ctx, args[0])
			if err != nil {
				return err
			}
			return printBranding(e.stdout, g.output, b)
		}),
	}
	set := &cobra.Command{
		Use:   "set SLUG [--FIELD VALUE]...",
		Short: "Change a tenant's branding: the fields given change, the others stay",
		Long: "Change the fields given (an empty value unsets one) and keep the others. The whole branding\n" +
			"is validated and stored in canonical form; the write is made only if nobody changed it since\n" +
			"it was read (If-Match on its version).",
		Args: exactArgs(1, "one tenant SLUG"),
	}
	values := map[string]*string{}
	for _, f := range brandingFields {
		flag := strings.ReplaceAll(f.flag, "_", "-")
		values[f.flag] = set.Flags().String(flag, "", f.help)
	}
	set.RunE = with(func(ctx context.Context, ops brandingOps, args []string) error {
		cur, err := ops.GetBranding(ctx, args[0])
		if err != nil {
			return err
		}
		fields := map[string]any{}
		if err := jsonRoundTrip(cur, &fields); err != nil {
			return err
		}
		changed := false
		for name, v := range values {
			if !set.Flags().Changed(strings.ReplaceAll(name, "_", "-")) {
				continue
			}
			val := *v
			if name == "custom_css" && strings.HasPrefix(val, "@") {
				b, err := os.ReadFile(val[1:])
				if err != nil {
					return usageError{fmt.Errorf("--custom-css: %w", err)}
				}
				val = string(b)
			}
			fields[name] = val
			changed = true
		}
		if !changed {
			return usageError{fmt.Errorf("nothing to change: give at least one of --display-name, --primary-color, …")}
		}
		var next catalog.Branding
		if err := jsonRoundTrip(fields, &next); err != nil {
			return err
		}
		version := cur.Version
		out, err := ops.SetBranding(ctx, args[0], next, &version)
		if err != nil {
			return err
		}
		return printBranding(e.stdout, g.output, out)
	})
	cmd.AddCommand(get, set, newBrandingUploadCmd(e, g))
	return group(cmd)
}

// brandingUploader uploads a logo or favicon. Only a server can: it holds
// the asset host and the tenants' storage.
type brandingUploader interface {
	UploadBrandAsset(ctx context.Context, ref, asset, contentType string, data []byte) (catalog.Branding, error)
}

var _ brandingUploader = apiOps{}

func (a apiOps) UploadBrandAsset(ctx context.Context, ref, asset, contentType string, data []byte) (catalog.Branding, error) {
	if asset == brandasset.Favicon {
		return conv[catalog.Branding](a.c.UploadFavicon(ctx, ref, contentType, data))
	}
	return conv[catalog.Branding](a.c.UploadLogo(ctx, ref, contentType, data))
}

func newBrandingUploadCmd(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "upload SLUG logo|favicon FILE",
		Short: "Upload a tenant's logo or favicon (PNG, JPEG, WebP; ICO for a favicon; at most 1 MiB) through a server",
		Long: "Send the image to the server, which checks its bytes, stores it in the tenant's storage (or the\n" +
			"platform's default) and points the branding's logo_url or favicon_url at it on the asset host.",
		Args: exactArgs(3, "a tenant SLUG, logo or favicon, and an image FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			asset := args[1]
			if asset != brandasset.Logo && asset != brandasset.Favicon {
				return usageError{fmt.Errorf("upload logo or favicon, not %q", asset)}
			}
			if g.server == "" {
				return usageError{errors.New("branding upload goes through a server (it holds the asset host and the tenants' storage): give --server and --token")}
			}
			data, err := readImage(args[2])
			if err != nil {
				return err
			}
			ops, done, err := connectAs[brandingUploader](cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			out, err := ops.UploadBrandAsset(cmd.Context(), args[0], asset, imageType(args[2], data), data)
			if err != nil {
				return err
			}
			return printBranding(e.stdout, g.output, out)
		},
	}
}

func readImage(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, usageError{err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, brandasset.MaxBytes+1))
	if err != nil {
		return nil, usageError{err}
	}
	if len(data) > brandasset.MaxBytes {
		return nil, usageError{fmt.Errorf("%s is over 1 MiB", name)}
	}
	return data, nil
}

// imageType is the type data's bytes show when they are an image, else
// the one its name's extension gives: the server judges either.
func imageType(name string, data []byte) string {
	if t, _, _ := strings.Cut(http.DetectContentType(data), ";"); strings.HasPrefix(t, "image/") {
		return t
	}
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func printBranding(w io.Writer, format string, b catalog.Branding) error {
	if format == "json" {
		return writeJSON(w, b)
	}
	fields := map[string]any{}
	if err := jsonRoundTrip(b, &fields); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range brandingFields {
		v, _ := fields[f.flag].(string)
		if v == "" {
			v = "-"
		}
		if f.flag == "custom_css" && v != "-" {
			v = fmt.Sprintf("%d bytes", len(v))
		}
		fmt.Fprintf(tw, "%s:\t%s\n", f.flag, v)
	}
	fmt.Fprintf(tw, "version:\t%d\n", b.Version)
	return tw.Flush()
}

// clientBranding is the client's type of a branding.
type clientBranding = client.Branding

// jsonRoundTrip converts in to out by way of their JSON.
func jsonRoundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
