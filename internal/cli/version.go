package cli

import (
	"errors"
	"fmt"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// buildVersion is what tenantkit version reports, from the binary's build
// information: the module version (a tag for `go install …@vX.Y.Z`,
// "(devel)" for a build from a checkout), the VCS revision and time the
// build was stamped with, whether the checkout had uncommitted changes, and
// the Go toolchain.
type buildVersion struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// versionOf reads a buildVersion out of bi.
func versionOf(bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the version on one line, as `tenantkit --version` prints it.
func (v buildVersion) String() string {
	s := v.Version
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (" + rev
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + v.GoVersion
}

// binaryVersion is this binary's version on one line, for --version.
func binaryVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return versionOf(bi).String()
}

func newVersion(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the module version, VCS revision and Go version this binary was built from",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			bi, ok := debug.ReadBuildInfo()
			if !ok {
				return errors.New("this binary carries no build information")
			}
			v := versionOf(bi)
			if g.output == "json" {
				return writeJSON(e.stdout, v)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			for _, row := range [][2]string{{"Module", v.Module}, {"Version", v.Version}, {"Revision", orDash(v.Revision)},
				{"Time", orDash(v.Time)}, {"Modified", fmt.Sprint(v.Modified)}, {"Go", v.GoVersion}} {
				fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
			}
			return tw.Flush()
		},
	}
}
