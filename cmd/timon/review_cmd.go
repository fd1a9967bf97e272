package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"timon.dev/timon/core/config"
	"timon.dev/timon/core/store"
	"timon.dev/timon/webhooks/review"
)

const reviewUsage = `usage: timon review suppressions [--project GROUP/PROJECT] [--clear KIND] [--config FILE]
  list, by project, the kinds of finding people dismissed in merge-request reviews
  and whether each is suppressed there; --clear KIND (with --project) starts that
  kind's count afresh, so that it is raised again. A kind listed in gitlab.review.allow
  (or a project's allow) is never suppressed by learning; one in suppress always is.
`

func init() {
	synopses["review suppressions"] = "timon review suppressions [--project GROUP/PROJECT] [--clear KIND] [--config FILE]\n" +
		"  the kinds of finding dismissed in merge-request reviews, by project, and which are suppressed;\n" +
		"  --clear KIND starts a kind's count afresh in the project"
}

// cmdReview is `timon review suppressions`: what reviews learned from the
// findings people dismissed, read from the store, and the configuration's
// suppress and allow lists that override it.
func cmdReview(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "suppressions" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(helpOut, reviewUsage)
			return errHelp
		}
		fmt.Fprint(stderr, reviewUsage)
		return errUsage
	}
	fs := newFlags("review suppressions", stderr)
	path := fs.String("config", "", "configuration file")
	project := fs.String("project", "", "only this project (group/project, as in GitLab)")
	clearKind := fs.String("clear", "", "start this kind's count afresh in --project")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "timon review suppressions: unexpected argument %q\n%s", fs.Arg(0), reviewUsage)
		return errUsage
	}
	if *clearKind != "" {
		if *project == "" {
			fmt.Fprintf(stderr, "timon review suppressions: --clear needs --project\n%s", reviewUsage)
			return errUsage
		}
		if !slices.Contains(review.Categories, *clearKind) {
			fmt.Fprintf(stderr, "timon review suppressions: unknown kind %q (expected one of %v)\n", *clearKind, review.Categories)
			return errUsage
		}
	}
	return withStore(ctx, *path, stderr, false, func(cfg *config.Config, st *store.Store) error {
		gl := sectionOf[review.Config](cfg, "gitlab")
		if *clearKind != "" {
			n, err := review.ResetKind(ctx, st, *project, *clearKind)
			if err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintf(stdout, "no %s finding was dismissed in %s: nothing to clear\n", *clearKind, *project)
				return nil
			}
			fmt.Fprintf(stdout, "%s findings in %s: count started afresh; they are raised again until dismissed %d more times\n",
				*clearKind, *project, gl.ProjectFor(*project).Settings.SuppressThreshold())
			return nil
		}
		counts, err := review.Learned(ctx, st, *project)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROJECT\tKIND\tDISMISSED\tSTATE")
		seen := map[string]bool{}
		for _, c := range counts {
			s := gl.ProjectFor(c.ProjectPath).Settings
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", c.ProjectPath, c.Kind, c.Dismissed, suppressionState(s, c.Kind, c.Dismissed))
			seen[c.Kind] = true
		}
		if *project != "" {
			s := gl.ProjectFor(*project).Settings
			for _, k := range s.Suppress {
				if !seen[k] {
					seen[k] = true
					fmt.Fprintf(tw, "%s\t%s\t0\t%s\n", *project, k, suppressionState(s, k, 0))
				}
			}
		}
		return tw.Flush()
	})
}

// suppressionState says whether a kind is suppressed in a project, and
// why, from its settings in timon.yaml (a project's .timon.yaml, read
// from its repository at review time, may add to them).
func suppressionState(s review.Settings, kind string, dismissed int) string {
	after := s.SuppressThreshold()
	switch {
	case kind == review.KindSecret:
		return "raised (flagged secrets are never suppressed)"
	case slices.Contains(s.Suppress, kind):
		return "suppressed (configured: suppress)"
	case slices.Contains(s.Allow, kind):
		return "raised (configured: allow)"
	case after > 0 && dismissed >= after:
		return fmt.Sprintf("suppressed (dismissed %d times, threshold %d)", dismissed, after)
	case after == 0:
		return "raised (suppress_after: -1)"
	}
	return fmt.Sprintf("raised (threshold %d)", after)
}
