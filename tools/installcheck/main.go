// Command installcheck writes a file-based module proxy entry
// (GOPROXY=file://…) for the module in a directory at a version, so that
// `go install MODULE/cmd/tenantkit@VERSION` can be tried from a clean
// module cache before a tag is published (scripts/install-check.sh).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: installcheck MODULE-DIR PROXY-DIR VERSION")
		os.Exit(2)
	}
	if err := write(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "installcheck:", err)
		os.Exit(1)
	}
}

// write lays out PROXY-DIR/PATH/@v/{list,VERSION.info,VERSION.mod,VERSION.zip}
// for the module in dir, its path read from dir/go.mod.
func write(dir, proxy, version string) error {
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	path := modfile.ModulePath(mod)
	if path == "" {
		return fmt.Errorf("%s/go.mod names no module", dir)
	}
	base := filepath.Join(proxy, path, "@v")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(base, version+".zip"))
	if err != nil {
		return err
	}
	if err := zip.CreateFromDir(f, module.Version{Path: path, Version: version}, dir); err != nil {
		f.Close()
		return fmt.Errorf("zip %s@%s: %w", path, version, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	info := fmt.Sprintf(`{"Version":%q,"Time":"2026-01-01T00:00:00Z"}`+"\n", version)
	for name, data := range map[string][]byte{version + ".mod": mod, version + ".info": []byte(info), "list": []byte(version + "\n")} {
		if err := os.WriteFile(filepath.Join(base, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
