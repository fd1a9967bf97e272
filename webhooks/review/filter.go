package review

import (
	"path"
	"strings"
)

// Reasons a file is not reviewed.
const (
	SkipGenerated = "generated"
	SkipTooLarge  = "too large for GitLab to show"
	SkipLockfile  = "lockfile"
	SkipVendored  = "vendored"
	SkipExcluded  = "excluded by the project's settings"
	SkipBinary    = "binary or empty diff"
	SkipUnparsed  = "diff could not be parsed"
	SkipBudget    = "over the review's budget"
	SkipDeleted   = "deleted"
)

// Skipped is a file left out of the review, and why.
type Skipped struct {
	Path, Reason string
}

// lockfiles are dependency lockfiles, by base name.
var lockfiles = map[string]bool{
	"go.sum": true, "package-lock.json": true, "npm-shrinkwrap.json": true, "yarn.lock": true,
	"pnpm-lock.yaml": true, "bun.lockb": true, "Cargo.lock": true, "poetry.lock": true, "Pipfile.lock": true,
	"uv.lock": true, "pdm.lock": true, "Gemfile.lock": true, "composer.lock": true, "mix.lock": true,
	"flake.lock": true, "pubspec.lock": true, "Podfile.lock": true, "packages.lock.json": true,
	"gradle.lockfile": true, "conda-lock.yml": true, "renv.lock": true, "Manifest.toml": true,
}

// vendoredDirs are folders of third-party code.
var vendoredDirs = []string{"vendor", "node_modules", "third_party", "third-party", "bower_components", ".yarn", "external"}

// generatedSuffixes mark generated files by name.
var generatedSuffixes = []string{
	".pb.go", ".pb.gw.go", "_pb2.py", "_pb2_grpc.py", ".pb.cc", ".pb.h", "_generated.go", ".gen.go",
	".min.js", ".min.css", ".map", ".designer.cs", ".g.dart", ".freezed.dart",
}

// skipReason says why a file should not be reviewed, "" when it should.
// The settings' Include, AlsoInclude and Exclude are path globs.
func skipReason(f *FileDiff, s Settings) string {
	p := f.NewPath
	if p == "" {
		p = f.OldPath
	}
	base := path.Base(p)
	switch {
	case matchAny(s.Exclude, p):
		return SkipExcluded
	case len(s.Include) > 0 && !matchAny(s.Include, p):
		return SkipExcluded
	case len(s.AlsoInclude) > 0 && !matchAny(s.AlsoInclude, p):
		return SkipExcluded
	case f.DeletedFile:
		return SkipDeleted
	case f.TooLarge || (f.Collapsed && f.Diff == ""):
		return SkipTooLarge
	case f.GeneratedFile || isGeneratedName(p):
		return SkipGenerated
	case lockfiles[base] || strings.HasSuffix(base, ".lock"):
		return SkipLockfile
	case isVendored(p):
		return SkipVendored
	case strings.TrimSpace(f.Diff) == "" || strings.HasPrefix(f.Diff, "Binary files"):
		return SkipBinary
	}
	return ""
}

func isGeneratedName(p string) bool {
	base := path.Base(p)
	for _, s := range generatedSuffixes {
		if strings.HasSuffix(base, s) {
			return true
		}
	}
	return strings.HasPrefix(base, "zz_generated") || strings.Contains(p, "/generated/") || strings.HasPrefix(p, "generated/")
}

func isVendored(p string) bool {
	for _, seg := range strings.Split(path.Dir(p), "/") {
		for _, v := range vendoredDirs {
			if seg == v {
				return true
			}
		}
	}
	return false
}

func matchAny(globs []string, p string) bool {
	for _, g := range globs {
		if MatchGlob(g, p) {
			return true
		}
	}
	return false
}

// MatchGlob matches a path against a glob where * and ? stay within a
// folder and ** spans any number of folders. A glob without a slash
// matches the base name anywhere (*.min.js); a glob ending in / matches
// everything under that folder.
func MatchGlob(glob, p string) bool {
	glob = strings.TrimPrefix(strings.TrimSpace(glob), "/")
	if strings.HasSuffix(glob, "/") {
		glob += "**"
	}
	if !strings.Contains(glob, "/") {
		ok, _ := path.Match(glob, path.Base(p))
		return ok
	}
	return matchSegments(strings.Split(glob, "/"), strings.Split(p, "/"))
}

func matchSegments(g, p []string) bool {
	for len(g) > 0 {
		if g[0] == "**" {
			if len(g) == 1 {
				return true
			}
			for i := 0; i <= len(p); i++ {
				if matchSegments(g[1:], p[i:]) {
					return true
				}
			}
			return false
		}
		if len(p) == 0 {
			return false
		}
		if ok, _ := path.Match(g[0], p[0]); !ok {
			return false
		}
		g, p = g[1:], p[1:]
	}
	return len(p) == 0
}
