package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionText(t *testing.T) {
	platform := []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"}}
	vcs := func(rev, when, modified string) []debug.BuildSetting {
		return append([]debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: when}, {Key: "vcs.modified", Value: modified}}, platform...)
	}
	const rev = "3834cb2c6c2d4e0f8a1b2c3d4e5f60718293a4b5"
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"go install @version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/jwtauth/jwtauth", Version: "v1.4.0"}, Settings: platform},
			"jwtauth v1.4.0\nmodule:    github.com/jwtauth/jwtauth v1.4.0\nrevision:  unknown\ncommitted: unknown\nmodified:  unknown\ngo:        go1.26.8 linux/arm64\n"},
		{"go install @commit", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/jwtauth/jwtauth", Version: "v1.4.1-0.20261201231000-3834cb2c6c2d"}, Settings: platform},
			"jwtauth v1.4.1-0.20261201231000-3834cb2c6c2d\nmodule:    github.com/jwtauth/jwtauth v1.4.1-0.20261201231000-3834cb2c6c2d\nrevision:  3834cb2c6c2d\ncommitted: unknown\nmodified:  unknown\ngo:        go1.26.8 linux/arm64\n"},
		{"built in a clone with changes", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/jwtauth/jwtauth", Version: "v0.0.0-20261201231000-3834cb2c6c2d+dirty"},
			Settings: vcs(rev, "2026-12-01T23:10:00Z", "true")},
			"jwtauth v0.0.0-20261201231000-3834cb2c6c2d+dirty\nmodule:    github.com/jwtauth/jwtauth v0.0.0-20261201231000-3834cb2c6c2d+dirty\nrevision:  " + rev + "\ncommitted: 2026-12-01T23:10:00Z\nmodified:  true\ngo:        go1.26.8 linux/arm64\n"},
		{"built without VCS information", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/jwtauth/jwtauth", Version: "(devel)"}, Settings: platform},
			"jwtauth (devel)\nmodule:    github.com/jwtauth/jwtauth (devel)\nrevision:  unknown\ncommitted: unknown\nmodified:  unknown\ngo:        go1.26.8 linux/arm64\n"},
		{"no build information", nil,
			"jwtauth (devel)\nmodule:    unknown (devel)\nrevision:  unknown\ncommitted: unknown\nmodified:  unknown\ngo:        " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, versionText(tc.bi))
		})
	}
}

func TestPseudoRevision(t *testing.T) {
	for v, want := range map[string]string{
		"v0.0.0-20261201231000-3834cb2c6c2d":                "3834cb2c6c2d",
		"v0.0.0-20261201231000-3834cb2c6c2d+dirty":          "3834cb2c6c2d",
		"v1.4.1-0.20261201231000-3834cb2c6c2d":              "3834cb2c6c2d",
		"v1.5.0-rc.1.0.20261201231000-3834cb2c6c2d":         "3834cb2c6c2d",
		"v2.0.1-0.20261201231000-3834cb2c6c2d+incompatible": "3834cb2c6c2d",
		"v1.4.0":                             "",
		"v1.4.0-rc.1":                        "",
		"(devel)":                            "",
		"v1.0.0-beta-3834cb2c6c2d":           "", // no timestamp
		"v0.0.0-20261201231000-3834CB2C6C2D": "", // not lower-case hex
		"":                                   "",
	} {
		assert.Equal(t, want, pseudoRevision(v), "%q", v)
	}
}

func TestVersionVerb(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{arg}, noEnv, nil, &stdout, &stderr)
		require.NoError(t, err, arg)
		assert.Empty(t, stderr.String(), arg)
		lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
		require.Len(t, lines, 6, "%s: %q", arg, stdout.String())
		assert.True(t, strings.HasPrefix(lines[0], "jwtauth "), lines[0])
		bi, ok := debug.ReadBuildInfo()
		require.True(t, ok)
		assert.Equal(t, "go:        "+bi.GoVersion+" "+runtime.GOOS+"/"+runtime.GOARCH, lines[5])
	}

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"version", "extra"}, noEnv, nil, &stdout, &stderr)
	assert.EqualError(t, err, "version takes no arguments")
	assert.Equal(t, 2, exitCode(err))
	assert.Contains(t, stderr.String(), "Usage: jwtauth version")

	stdout.Reset()
	err = run(context.Background(), []string{"version", "-h"}, noEnv, nil, &stdout, &stderr)
	assert.Equal(t, 0, exitCode(err))
	assert.Contains(t, stdout.String(), "Usage: jwtauth version")

	stdout.Reset()
	require.NoError(t, run(context.Background(), []string{"help"}, noEnv, nil, &stdout, &stderr))
	assert.Contains(t, stdout.String(), "jwtauth version ")
}

func noEnv(string) string { return "" }

// stamped is what `go version -m` reads from a binary (debug/buildinfo,
// not the binary's own runtime/debug.ReadBuildInfo).
type stamped struct {
	goVersion, path, version string
	settings                 map[string]string
}

func goVersionM(t *testing.T, bin string) stamped {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := stamped{settings: map[string]string{}}
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case i == 0:
			_, s.goVersion, _ = strings.Cut(line, ": ")
		case f[0] == "mod" && len(f) >= 3:
			s.path, s.version = f[1], f[2]
		case f[0] == "build" && len(f) == 2:
			k, v, _ := strings.Cut(f[1], "=")
			s.settings[k] = v
		}
	}
	return s
}

func versionOf(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// TestVersionBinary runs `jwtauth version` of real builds and checks it
// against what the go command stamped into them, as `go version -m` reads
// it: the build of the e2e tests (whatever GOFLAGS says), one with
// -buildvcs=true (in a clone: a pseudo-version of HEAD, +dirty when
// modified, and HEAD's revision) and one with -buildvcs=false ("(devel)",
// no revision).
func TestVersionBinary(t *testing.T) {
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	check := func(t *testing.T, bin string) stamped {
		s := goVersionM(t, bin)
		require.Equal(t, "github.com/jwtauth/jwtauth", s.path)
		rev := s.settings["vcs.revision"]
		if rev == "" {
			rev = pseudoRevision(s.version)
		}
		assert.Equal(t, []string{
			"jwtauth " + s.version,
			"module:    github.com/jwtauth/jwtauth " + s.version,
			"revision:  " + unknown(rev),
			"committed: " + unknown(s.settings["vcs.time"]),
			"modified:  " + unknown(s.settings["vcs.modified"]),
			"go:        " + s.goVersion + " " + s.settings["GOOS"] + "/" + s.settings["GOARCH"],
		}, versionOf(t, bin))
		return s
	}

	t.Run("as the e2e tests build it", func(t *testing.T) {
		check(t, buildBinary(t))
	})
	t.Run("with VCS information", func(t *testing.T) {
		top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
		if err != nil {
			t.Skipf("not in a git checkout (%v): nothing to stamp", err)
		}
		head, err := exec.Command("git", "rev-parse", "HEAD").Output()
		require.NoError(t, err)
		bin := filepath.Join(t.TempDir(), "jwtauth")
		out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput()
		require.NoError(t, err, "%s", out)
		s := check(t, bin)
		fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git"))
		require.NoError(t, err)
		if !fi.IsDir() {
			// A git worktree (or submodule): its .git is a file, which the
			// go command does not take for a repository.
			assert.Equal(t, "(devel)", s.version)
			assert.Empty(t, s.settings["vcs.revision"])
			return
		}
		rev := strings.TrimSpace(string(head))
		assert.Equal(t, rev, s.settings["vcs.revision"])
		assert.Equal(t, rev[:12], pseudoRevision(s.version), "go1.24+ stamps a pseudo-version of HEAD: %s", s.version)
		require.Contains(t, []string{"true", "false"}, s.settings["vcs.modified"])
		assert.Equal(t, s.settings["vcs.modified"] == "true", strings.HasSuffix(s.version, "+dirty"), s.version)
		assert.Equal(t, "revision:  "+rev, versionOf(t, bin)[2])
	})
	t.Run("without VCS information", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "jwtauth")
		cmd := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		s := check(t, bin)
		assert.Equal(t, "(devel)", s.version)
		assert.Equal(t, []string{"jwtauth (devel)", "revision:  unknown", "modified:  unknown"}, func() []string {
			l := versionOf(t, bin)
			return []string{l[0], l[2], l[4]}
		}())
	})
}
