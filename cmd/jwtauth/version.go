package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// runVersion prints what the binary was built from: its module version, the
// VCS revision, commit time and modified flag, and the Go toolchain and
// platform (runtime/debug.ReadBuildInfo). It takes no arguments.
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version")
	pos, err := parseArgs(fs, args, stdout, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.SetOutput(stderr)
		fs.Usage()
		return usagef("version takes no arguments")
	}
	bi, _ := debug.ReadBuildInfo()
	_, err = io.WriteString(stdout, versionText(bi))
	return err
}

// versionText describes bi (nil when the binary carries no build
// information) in lines of "name: value":
//
//	jwtauth v1.4.0
//	module:    github.com/jwtauth/jwtauth v1.4.0
//	revision:  3834cb2c6c2d4e0f8a1b2c3d4e5f60718293a4b5
//	committed: 2026-12-01T23:10:00Z
//	modified:  false
//	go:        go1.26.8 linux/amd64
//
// The version is the module's as the go command stamped it: a release
// (go install …@v1.4.0), a pseudo-version v0.0.0-<time>-<revision> (a
// commit, or go1.24+ building a git clone; "+dirty" when the tree had
// uncommitted changes), or "(devel)" when the build had no VCS information
// (-buildvcs=false, a source tree without .git, or a git worktree, whose
// .git is a file the go command does not follow). The revision, commit time and
// modified flag come from the vcs.* build settings of a build in a clone,
// else the revision from a pseudo-version; "unknown" when neither says.
func versionText(bi *debug.BuildInfo) string {
	version, path, goVersion := "(devel)", "unknown", runtime.Version()
	settings := map[string]string{}
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.Main.Path != "" {
			path = bi.Main.Path
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	revision := settings["vcs.revision"]
	if revision == "" {
		revision = pseudoRevision(version)
	}
	goos, goarch := settings["GOOS"], settings["GOARCH"]
	if goos == "" || goarch == "" {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	var b strings.Builder
	fmt.Fprintf(&b, "jwtauth %s\n", version)
	fmt.Fprintf(&b, "module:    %s %s\n", path, version)
	fmt.Fprintf(&b, "revision:  %s\n", unknown(revision))
	fmt.Fprintf(&b, "committed: %s\n", unknown(settings["vcs.time"]))
	fmt.Fprintf(&b, "modified:  %s\n", unknown(settings["vcs.modified"]))
	fmt.Fprintf(&b, "go:        %s %s/%s\n", goVersion, goos, goarch)
	return b.String()
}

// pseudoRevision returns the 12-character revision prefix a pseudo-version
// ends with (vX.Y.Z-yyyymmddhhmmss-abcdefabcdef, or
// vX.Y.Z-pre.0.yyyymmddhhmmss-abcdefabcdef, go.dev/ref/mod#pseudo-versions),
// before any "+incompatible" or "+dirty"; "" for any other version.
func pseudoRevision(v string) string {
	v, _, _ = strings.Cut(v, "+")
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return ""
	}
	rev, rest := v[i+1:], v[:i]
	j := max(strings.LastIndexByte(rest, '-'), strings.LastIndexByte(rest, '.'))
	if len(rev) != 12 || strings.Trim(rev, "0123456789abcdef") != "" || j < 0 {
		return ""
	}
	if ts := rest[j+1:]; len(ts) != 14 || strings.Trim(ts, "0123456789") != "" {
		return ""
	}
	return rev
}
