package orders_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestStorefrontInChromium loads each tenant's storefront in headless
// Chromium and checks that the browser paints it in that tenant's primary
// colour: the --color-primary that the page's own CSS sees, and the header
// that uses it. It checks once more with JavaScript switched off, reading the
// computed style through the DevTools DOM and CSS domains instead of page
// script, which shows that the brand is in the initial HTML and needs no
// script to apply. It saves a full-page screenshot of each storefront.
func TestStorefrontInChromium(t *testing.T) {
	t.Parallel()
	browser := startChromium(t)
	_, base := storefrontPlatform(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	dir := artifactsDir(t)

	want := map[string]string{"acme": "#d9480f", "globex": "#1971c2"}
	got := map[string]string{}
	for _, slug := range []string{"acme", "globex"} {
		page := "http://" + slug + ".localhost:" + u.Port() + "/"
		got[slug] = checkWithScript(t, browser, page, want[slug])
		png := checkWithoutScript(t, browser, page, want[slug])
		path := filepath.Join(dir, "storefront-"+slug+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s storefront screenshot: %s", slug, path)
	}
	if got["acme"] == got["globex"] {
		t.Fatalf("acme and globex have the same primary colour %s", got["acme"])
	}
}

// startChromium starts headless Chromium for the test and returns a
// chromedp context on it; every tab the test opens is a child of it. The
// whole browser part has one minute.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (%v): `make test` installs it (scripts/deps.sh test), or run apt-get install chromium", err)
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 60*time.Second)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // the tests may run as root, where Chromium's sandbox refuses to start
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// checkWithScript opens the page in a new tab and reads, with page
// JavaScript, the --color-primary the document sees and the header's
// background colour. It returns the --color-primary.
func checkWithScript(t *testing.T, browser context.Context, page, want string) string {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	if err := chromedp.Do(tab, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}
	primary, err := chromedp.Run(tab, chromedp.Evaluate[string](
		`getComputedStyle(document.documentElement).getPropertyValue('--color-primary').trim()`))
	if err != nil {
		t.Fatalf("%s: read --color-primary: %v", page, err)
	}
	if primary != want {
		t.Fatalf("%s: --color-primary is %q, want %s", page, primary, want)
	}
	bg, err := chromedp.Run(tab, chromedp.Evaluate[string](
		`getComputedStyle(document.querySelector('header')).backgroundColor`))
	if err != nil {
		t.Fatalf("%s: read the header's background: %v", page, err)
	}
	if bg != rgb(t, want) {
		t.Fatalf("%s: header background is %s, want %s (%s)", page, bg, rgb(t, want), want)
	}
	return primary
}

// checkWithoutScript opens the page in a new tab with JavaScript disabled
// from before the navigation, so no script of the page ever runs, and
// reads the computed style through the DevTools DOM and CSS domains rather
// than page script. What it sees is what the initial HTML and its CSS alone
// paint. It returns a full-page screenshot of that first paint.
func checkWithoutScript(t *testing.T, browser context.Context, page, want string) []byte {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	disable := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	if err := chromedp.Do(tab, disable, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open %s without JavaScript: %v", page, err)
	}
	style, err := chromedp.Run(tab, computedStyles("html", "header"))
	if err != nil {
		t.Fatalf("%s: computed style over CDP: %v", page, err)
	}
	if got := style["html"]["--color-primary"]; got != want {
		t.Fatalf("%s without JavaScript: --color-primary is %q, want %s", page, got, want)
	}
	if got := style["header"]["background-color"]; got != rgb(t, want) {
		t.Fatalf("%s without JavaScript: header background is %q, want %s (%s)", page, got, rgb(t, want), want)
	}
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("%s: screenshot: %v", page, err)
	}
	return png
}

// computedStyles is an action that returns, for each selector, the computed
// style of the first element it matches, read with DOM.querySelector (on
// chromedp's own copy of the document, whose node IDs stay valid) and
// CSS.getComputedStyleForNode; no page script is involved.
func computedStyles(selectors ...string) chromedp.Action[map[string]map[string]string] {
	return func(ctx context.Context, tg *chromedp.Target) (map[string]map[string]string, error) {
		if _, err := cdp.Call(ctx, tg, css.Enable, cdp.Empty{}); err != nil {
			return nil, err
		}
		styles := map[string]map[string]string{}
		for _, sel := range selectors {
			style, err := chromedp.QueryAfter(chromedp.CSS(sel), computedStyle)(ctx, tg)
			if err != nil {
				return nil, fmt.Errorf("computed style of %q: %w", sel, err)
			}
			styles[sel] = style
		}
		return styles, nil
	}
}

func computedStyle(ctx context.Context, tg *chromedp.Target, nodes []*chromedp.Node) (map[string]string, error) {
	cs, err := cdp.Call(ctx, tg, css.GetComputedStyleForNode, css.GetComputedStyleForNodeParams{NodeID: nodes[0].NodeID})
	if err != nil {
		return nil, err
	}
	style := map[string]string{}
	for _, p := range cs.ComputedStyle {
		style[p.Name] = p.Value
	}
	return style, nil
}

// rgb turns #rrggbb into the rgb(r, g, b) form a computed colour takes.
func rgb(t *testing.T, hex string) string {
	t.Helper()
	v, err := strconv.ParseUint(hex[1:], 16, 32)
	if err != nil || len(hex) != 7 {
		t.Fatalf("bad colour %q", hex)
	}
	return fmt.Sprintf("rgb(%d, %d, %d)", v>>16, v>>8&0xff, v&0xff)
}

// artifactsDir is where the test writes what a person may want to look at
// afterwards: $TENANTKIT_TEST_ARTIFACTS, or .artifacts/storefront at the
// root of the repository.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TENANTKIT_TEST_ARTIFACTS")
	if dir == "" {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
			t.Fatalf("find the repository root: %v", err)
		}
		dir = filepath.Join(root, ".artifacts", "storefront")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
