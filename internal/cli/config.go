package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// configHelp is the part of serve's and dev's help that explains config
// files and the order in which a setting's sources win.
const configHelp = "\n\nEvery flag of this command, and the global ones it uses, can also be set in a\n" +
	"YAML file given by --config (TENANTKIT_CONFIG): a flat mapping keyed by flag name,\n" +
	"e.g. \"addr: 127.0.0.1:8080\" (examples/tenantkit.yaml is one for serve). Precedence:\n" +
	"a flag on the command line wins, then the environment variable that flag reads,\n" +
	"then the file, then the built-in default. Unknown keys and bad values are refused\n" +
	"before anything starts. tenantkit config print shows what serve would use, and\n" +
	"where each value came from."

// configEnv maps each flag whose default comes from an environment variable
// to that variable, as root.go and observe.go read them: the variable wins
// over a config file, so loading the file must know which one a flag reads.
// It is kept by hand rather than parsed from usage strings; a test checks
// that the two agree.
var configEnv = map[string]string{
	"server":          "TENANTKIT_SERVER",
	"token":           "TENANTKIT_ADMIN_TOKEN",
	"database-url":    "TENANTKIT_DATABASE_URL",
	"redis-url":       "TENANTKIT_REDIS_URL",
	"migrations":      "TENANTKIT_MIGRATIONS",
	"settings-schema": "TENANTKIT_SETTINGS_SCHEMA",
	"key-file":        "TENANTKIT_KEY_FILE",
	"vault-addr":      "TENANTKIT_VAULT_ADDR",
	"vault-key":       "TENANTKIT_VAULT_KEY",
	"kms-key-uri":     "TENANTKIT_KMS_KEY_URI",
	"kms-credentials": "TENANTKIT_KMS_CREDENTIALS",
	"integrations":    "TENANTKIT_INTEGRATIONS",
	"otel-endpoint":   "OTEL_EXPORTER_OTLP_ENDPOINT",
	"dns-resolver":    "TENANTKIT_DNS_RESOLVER",
	"base-domain":     "TENANTKIT_BASE_DOMAIN",
	"asset-host":      "TENANTKIT_ASSET_HOST",
}

// serveGlobals are the global flags serve uses, so its config file may set
// them; --output and --server mean nothing to it.
var serveGlobals = []string{"token", "database-url", "redis-url", "migrations", "settings-schema",
	"key-file", "vault-addr", "vault-key", "kms-key-uri", "kms-credentials", "integrations"}

// devGlobals are the global flags dev uses: it makes its own database,
// token and keys.
var devGlobals = []string{"redis-url"}

// envOnly is a setting read from the environment only, never from a flag
// or a config file: a secret kept off command lines and out of files.
type envOnly struct{ key, env string }

// serveEnvOnly are serve's environment-only secrets; config print shows
// them, masked, so that the whole configuration is in one place.
var serveEnvOnly = []envOnly{{"vault-token", "TENANTKIT_VAULT_TOKEN"}, {"jwt-secret", "TENANTKIT_JWT_SECRET"}}

// secretKeys are settings whose whole value is a secret: config print
// shows only whether they are set.
var secretKeys = map[string]bool{"token": true, "vault-token": true, "jwt-secret": true}

// connKeys are settings holding URLs or connection strings that may carry
// a password: config print masks the password and keeps the rest.
var connKeys = map[string]bool{"database-url": true, "redis-url": true, "otel-endpoint": true, "vault-addr": true, "server": true}

// masked replaces a secret, or the password of a connection string.
const masked = "xxxxx"

// configSpec is what a command's config file may hold.
type configSpec struct {
	// keys are the flag names the file may set, sorted.
	keys []string
	// envOnly are the command's settings a file may not set, named so that
	// a file trying to gets a useful error.
	envOnly []envOnly
}

// newConfigSpec is the spec of a command whose own flags are own (--config
// and --help aside) and which uses the global flags named in globals.
func newConfigSpec(own *pflag.FlagSet, globals []string, eo []envOnly) configSpec {
	keys := slices.Clone(globals)
	own.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "help" {
			keys = append(keys, f.Name)
		}
	})
	sort.Strings(keys)
	return configSpec{keys: slices.Compact(keys), envOnly: eo}
}

// configFlag adds --config to cmd, defaulting to TENANTKIT_CONFIG.
func configFlag(cmd *cobra.Command, e env, path *string) {
	cmd.Flags().StringVar(path, "config", e.getenv("TENANTKIT_CONFIG"),
		"YAML file of settings keyed by flag name (env TENANTKIT_CONFIG); flags and their environment variables win over it")
}

// appliedConfig is what loading a config file did: which keys it set, and
// on which line, so that config print can say where a value came from.
type appliedConfig struct {
	path string
	// lines holds, for every key whose value came from the file, its line.
	lines map[string]int
}

// configSource is where a setting's value came from.
type configSource struct {
	kind string // flag, env, file or default
	env  string // the environment variable, for kind env
	line int    // the file's line, for kind file
}

// source says where the value of the flag f came from, in the order of
// precedence: command line, environment, file, default.
func (a appliedConfig) source(f *pflag.Flag, getenv func(string) string) configSource {
	if f.Changed {
		return configSource{kind: "flag"}
	}
	if v := configEnv[f.Name]; v != "" && getenv(v) != "" {
		return configSource{kind: "env", env: v}
	}
	if line, ok := a.lines[f.Name]; ok {
		return configSource{kind: "file", line: line}
	}
	return configSource{kind: "default"}
}

// configError is a problem of the config file at path, on line (0: no
// line), as a usage error: the command is not run.
func configError(path string, line int, format string, args ...any) error {
	where := path
	if line > 0 {
		where += ":" + strconv.Itoa(line)
	}
	return usageError{fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))}
}

// yamlLineRE finds the line in the YAML parser's syntax errors.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// configSyntaxError turns the YAML parser's error into a config error
// naming the file and, when the parser gives one, the line.
func configSyntaxError(path string, err error) error {
	msg := oneLine(err.Error())
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return configError(path, line, "%s", m[2])
	}
	return configError(path, 0, "%s", strings.TrimPrefix(msg, "yaml: "))
}

// readConfigFile parses the config file at path into its top mapping: nil
// for a file with no document (empty, or comments only), an error for one
// that is unreadable, not YAML, not a mapping, or more than one document.
func readConfigFile(path string) (*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("config file: %w", err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, configSyntaxError(path, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, configError(path, next.Line, "a second YAML document: want one mapping of flag names to values")
	} else if !errors.Is(err, io.EOF) {
		return nil, configSyntaxError(path, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		return nil, nil // "---" alone: no settings
	case root.Kind != yaml.MappingNode:
		return nil, configError(path, root.Line, "want a mapping of flag names to values, not %s", nodeKind(root))
	}
	return root, nil
}

// nodeKind names a YAML node's kind for errors.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// loadConfig applies the config file at path to the flags of fs, which
// the command line has already set; an empty path is no file. A key the
// command line or its environment variable already set keeps that value,
// but the file's value is still checked: a bad file is refused whatever
// wins. Errors are usage errors naming the file, the line and the key.
func loadConfig(fs *pflag.FlagSet, spec configSpec, path string, getenv func(string) string) (appliedConfig, error) {
	a := appliedConfig{path: path, lines: map[string]int{}}
	if path == "" {
		return a, nil
	}
	root, err := readConfigFile(path)
	if err != nil || root == nil {
		return a, err
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return a, configError(path, k.Line, "a key must be a flag name, not %s", nodeKind(k))
		}
		key := k.Value
		if first, ok := seen[key]; ok {
			return a, configError(path, k.Line, "key %q given twice (first on line %d)", key, first)
		}
		seen[key] = k.Line
		f := fs.Lookup(key)
		if f == nil || !slices.Contains(spec.keys, key) {
			return a, unknownKeyError(path, k.Line, key, spec)
		}
		keep := f.Changed || (configEnv[key] != "" && getenv(configEnv[key]) != "")
		if err := setFromNode(f, v, keep); err != nil {
			return a, configError(path, v.Line, "key %q: %v", key, err)
		}
		if !keep {
			a.lines[key] = k.Line
		}
	}
	return a, nil
}

// unknownKeyError refuses a key that is not one of spec's, suggesting the
// closest known one or saying where an environment-only secret goes.
func unknownKeyError(path string, line int, key string, spec configSpec) error {
	for _, eo := range spec.envOnly {
		if eo.key == key {
			return configError(path, line, "unknown key %q: it is read from %s only", key, eo.env)
		}
	}
	if s := closestKey(key, spec.keys); s != "" {
		return configError(path, line, "unknown key %q (did you mean %q?)", key, s)
	}
	return configError(path, line, "unknown key %q", key)
}

// closestKey is the key of keys nearest to name by edit distance, if it is
// near enough to be a typo (at most 2 edits), else "".
func closestKey(name string, keys []string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// setFromNode sets the flag f from the YAML value v through the flag's own
// parser, so types and validation are the flag's; a list goes to a flag
// that takes lists. With keep, the flag's current value (from the command
// line or the environment) is put back after the check.
func setFromNode(f *pflag.Flag, v *yaml.Node, keep bool) error {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.ShortTag() == "!!null" {
			return errors.New("no value (leave the key out for the default)")
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			// Set on a list flag appends after the first call; a file
			// gives the whole list.
			return setList(sv, []string{v.Value}, keep)
		}
		saved := f.Value.String()
		if err := f.Value.Set(v.Value); err != nil {
			return fmt.Errorf("invalid value %q: %w", v.Value, err)
		}
		if keep {
			if err := f.Value.Set(saved); err != nil {
				return fmt.Errorf("restore the value given by flag or environment: %w", err)
			}
		}
		return nil
	case yaml.SequenceNode:
		sv, ok := f.Value.(pflag.SliceValue)
		if !ok {
			return errors.New("want a single value, not a list")
		}
		items := make([]string, 0, len(v.Content))
		for i, it := range v.Content {
			if it.Kind != yaml.ScalarNode || it.ShortTag() == "!!null" {
				return fmt.Errorf("item %d: want a single value, not %s", i+1, nodeKind(it))
			}
			items = append(items, it.Value)
		}
		return setList(sv, items, keep)
	}
	return fmt.Errorf("want a single value, not %s", nodeKind(v))
}

// setList replaces the list flag sv's items with items, and with keep puts
// its current ones back after the check.
func setList(sv pflag.SliceValue, items []string, keep bool) error {
	saved := sv.GetSlice()
	if err := sv.Replace(items); err != nil {
		return fmt.Errorf("invalid value %q: %w", strings.Join(items, ", "), err)
	}
	if keep {
		return sv.Replace(saved)
	}
	return nil
}

// configPreRun loads the config file named by *path into cmd's flags
// before cmd runs, so that a bad file stops it before anything starts.
func configPreRun(e env, spec configSpec, path *string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		_, err := loadConfig(cmd.Flags(), spec, *path, e.getenv)
		return err
	}
}

// configEntry is one setting as config print shows it.
type configEntry struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
	// Env is the environment variable the value came from, or that
	// an environment-only setting would come from.
	Env  string `json:"env,omitempty"`
	Line int    `json:"line,omitempty"`
	// EnvOnly marks a setting that only the environment can give.
	EnvOnly bool `json:"env_only,omitempty"`
}

// configReport is serve's effective configuration, as config print shows it.
type configReport struct {
	File     string        `json:"file"`
	Settings []configEntry `json:"settings"`
}

// maskSetting hides the secrets in the value of the setting key: all of a
// secret, the password of a connection string.
func maskSetting(key, value string) string {
	switch {
	case value == "":
		return ""
	case secretKeys[key]:
		return masked
	case connKeys[key]:
		return maskConn(value)
	}
	return value
}

// dsnPasswordRE finds the password of a keyword/value connection string
// (host=… password=…), quoted or not.
var dsnPasswordRE = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// maskConn masks the password of a URL (in its user part or its query) or
// of a keyword/value connection string.
func maskConn(s string) string {
	if strings.Contains(s, "://") {
		return catalog.RedactURL(s)
	}
	return dsnPasswordRE.ReplaceAllString(s, "${1}"+masked)
}

// newConfig is the config command group: config files of serve and dev.
func newConfig(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration of tenantkit serve",
	}
	cmd.AddCommand(newConfigPrint(e, g))
	return group(cmd)
}

// newConfigPrint shows serve's effective configuration. It takes every
// flag serve takes, by sharing a serve command's flags, so that it shows
// exactly what serve would run with the same command line, environment
// and file; it connects to nothing.
func newConfigPrint(e env, g *globals) *cobra.Command {
	srv := newServe(e, g)
	spec := newConfigSpec(srv.Flags(), serveGlobals, serveEnvOnly)
	cmd := &cobra.Command{
		Use:   "print",
		Short: "Show the configuration serve would use, and where each value came from",
		Long: "Show every setting of tenantkit serve, its value and where it came from: flag,\n" +
			"env (its environment variable), file (--config, TENANTKIT_CONFIG) or default, in\n" +
			"that order of precedence. It takes serve's flags. Secrets are masked: the admin\n" +
			"token, the Vault token, the JWT secret and passwords in connection URLs.\n" +
			"Nothing is connected to.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := cmd.Flags().GetString("config")
			if err != nil {
				return fmt.Errorf("config print: %w", err)
			}
			a, err := loadConfig(cmd.Flags(), spec, path, e.getenv)
			if err != nil {
				return err
			}
			r, err := effectiveConfig(cmd.Flags(), spec, a, e.getenv)
			if err != nil {
				return err
			}
			return printConfig(e.stdout, g.output, r)
		},
	}
	cmd.Flags().AddFlagSet(srv.Flags())
	return cmd
}

// effectiveConfig lists every setting of spec with its masked value and
// its source, sorted by key.
func effectiveConfig(fs *pflag.FlagSet, spec configSpec, a appliedConfig, getenv func(string) string) (configReport, error) {
	r := configReport{File: a.path, Settings: []configEntry{}}
	for _, key := range spec.keys {
		f := fs.Lookup(key)
		if f == nil {
			return r, fmt.Errorf("config print: no flag --%s", key)
		}
		src := a.source(f, getenv)
		r.Settings = append(r.Settings, configEntry{Key: key, Value: maskSetting(key, f.Value.String()),
			Source: src.kind, Env: src.env, Line: src.line})
	}
	for _, eo := range spec.envOnly {
		entry := configEntry{Key: eo.key, Source: "default", Env: eo.env, EnvOnly: true}
		if v := getenv(eo.env); v != "" {
			entry.Value, entry.Source = maskSetting(eo.key, v), "env"
		}
		r.Settings = append(r.Settings, entry)
	}
	sort.Slice(r.Settings, func(i, j int) bool { return r.Settings[i].Key < r.Settings[j].Key })
	return r, nil
}

// printConfig writes r as a table of key, value and source, or as JSON.
func printConfig(w io.Writer, format string, r configReport) error {
	if format == "json" {
		return writeJSON(w, r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
	for _, s := range r.Settings {
		src := s.Source
		switch {
		case s.Source == "env":
			src += " " + s.Env
		case s.Source == "file":
			src += " " + r.File + ":" + strconv.Itoa(s.Line)
		case s.EnvOnly:
			src += " (env " + s.Env + " only)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, s.Value, src)
	}
	return tw.Flush()
}
