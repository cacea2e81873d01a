package branding_test

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/tenantkit/tenantkit/internal/branding"
)

var testPolicy = branding.Policy{AssetHost: "assets.example.com"}

type hostileCase struct {
	line  int
	field string
	value string
	want  *string // custom_css only: what SanitizeCSS keeps
}

func (c hostileCase) name() string {
	return c.field + ":" + strconv.Itoa(c.line)
}

func loadHostile(t testing.TB) []hostileCase {
	t.Helper()
	f, err := os.Open("testdata/hostile.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []hostileCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		c := hostileCase{line: n, field: cols[0], value: unquote(t, n, cols[1])}
		if len(cols) > 2 {
			w := unquote(t, n, cols[2])
			c.want = &w
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("a{color:red}", branding.DefaultMaxCSSBytes/12+1)
	empty := ""
	cases = append(cases, hostileCase{field: "custom_css", value: big, want: &empty})
	return cases
}

func unquote(t testing.TB, line int, s string) string {
	t.Helper()
	v, err := strconv.Unquote(s)
	if err != nil {
		t.Fatalf("testdata/hostile.txt:%d: %v", line, err)
	}
	return v
}

// withField sets the field with JSON name field to value, byte for byte
// (a JSON round trip would replace invalid UTF-8).
func withField(t *testing.T, field, value string) branding.Branding {
	t.Helper()
	var b branding.Branding
	v := reflect.ValueOf(&b).Elem()
	for i := range v.NumField() {
		if v.Type().Field(i).Tag.Get("json") == field {
			v.Field(i).SetString(value)
			return b
		}
	}
	t.Fatalf("Branding has no field with JSON name %q", field)
	return b
}

func TestHostileCorpus(t *testing.T) {
	t.Parallel()
	cases := loadHostile(t)
	if n := countField(cases, "custom_css"); n < 30 {
		t.Fatalf("corpus has %d custom_css entries, want at least 30", n)
	}
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			b := withField(t, c.field, c.value)
			requireRefused(t, b, c.field)
			if c.want != nil {
				got, problems := branding.SanitizeCSS(c.value, testPolicy)
				if got != *c.want {
					t.Errorf("SanitizeCSS(%q)\n got %q\nwant %q\nproblems %q", c.value, got, *c.want, problems)
				}
			}
			// StyleHTML must be safe even for values Validate never saw.
			requireSafeHTML(t, b, string(branding.StyleHTML(b, "n0nce", testPolicy)))
		})
	}
}

func countField(cases []hostileCase, field string) int {
	n := 0
	for _, c := range cases {
		if c.field == field {
			n++
		}
	}
	return n
}

func requireRefused(t *testing.T, b branding.Branding, field string) {
	t.Helper()
	errs := b.Validate(testPolicy)
	for _, e := range errs {
		if e.Field == field {
			return
		}
	}
	t.Errorf("Validate accepted %s; errors: %v", field, errs)
}

var urlRef = regexp.MustCompile(`(?i)url\(`)

// requireSafeHTML checks the rendered head fragment both as text and as an
// HTML5 parser sees it.
func requireSafeHTML(t *testing.T, b branding.Branding, out string) {
	t.Helper()
	lower := strings.ToLower(out)
	for _, bad := range []string{"<script", "javascript:", "vbscript:", "expression(", "@import", "<!--", "evil.example", "<img"} {
		if strings.Contains(lower, bad) {
			t.Errorf("output contains %q:\n%s", bad, out)
		}
	}
	if n := strings.Count(lower, "</style"); n != 1 {
		t.Errorf("output has %d </style, want exactly 1:\n%s", n, out)
	}
	end := strings.Index(lower, "</style>")
	if rest := out[end+len("</style>"):]; rest != "" && !strings.HasPrefix(rest, `<link rel="icon" href="https://assets.example.com/`) {
		t.Errorf("unexpected markup after </style>: %q", rest)
	}
	for _, loc := range urlRef.FindAllStringIndex(out, -1) {
		if !strings.HasPrefix(out[loc[1]:], `"https://assets.example.com/`) {
			t.Errorf("url() to a non-asset host at %d:\n%s", loc[0], out)
		}
	}

	clean, _ := branding.SanitizeCSS(b.CustomCSS, testPolicy)
	wantCSS := branding.RootCSS(b) + clean
	if strings.ContainsRune(wantCSS, '<') {
		t.Errorf("style text contains '<': %q", wantCSS)
	}
	styles, others := parseHead(t, out)
	if len(styles) != 1 {
		t.Fatalf("HTML parser found %d style elements, want 1:\n%s", len(styles), out)
	}
	if styles[0] != wantCSS {
		t.Errorf("style text as parsed\n got %q\nwant %q", styles[0], wantCSS)
	}
	for _, tag := range others {
		if tag != "link" {
			t.Errorf("HTML parser found a <%s> element:\n%s", tag, out)
		}
	}
}

// parseHead parses fragment in <head> context and returns the text of each
// style element and the names of all other elements.
func parseHead(t *testing.T, fragment string) (styles, others []string) {
	t.Helper()
	head := &html.Node{Type: html.ElementNode, Data: "head", DataAtom: atom.Head}
	nodes, err := html.ParseFragment(strings.NewReader(fragment), head)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "style" {
				var text strings.Builder
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					text.WriteString(c.Data)
				}
				styles = append(styles, text.String())
				return
			}
			others = append(others, n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	return styles, others
}
