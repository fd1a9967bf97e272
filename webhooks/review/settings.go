package review

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RepoConfigPath is the file a project may keep on its default branches to
// refine its review settings. It is read from the merge request's target
// branch only: the source branch is the author's, and an author must not
// be able to switch their own review off or rewrite its instructions.
const RepoConfigPath = ".timon.yaml"

// maxRepoConfig bounds the size of .timon.yaml.
const maxRepoConfig = 64 << 10

// parseRepoConfig reads a .timon.yaml: the keys of gitlab.review in
// timon.yaml (events, profile, include, exclude, instructions, language,
// max_inline_comments, summary_only, min_confidence, review_drafts,
// suppress, allow, suppress_after, skip_bot_authors, skip_authors).
func parseRepoConfig(data []byte) (Settings, error) {
	var s Settings
	if len(data) > maxRepoConfig {
		return s, fmt.Errorf("%s is over %d KiB", RepoConfigPath, maxRepoConfig>>10)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return Settings{}, fmt.Errorf("%s: %s", RepoConfigPath, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if probs := s.Validate(); len(probs) > 0 {
		return Settings{}, fmt.Errorf("%s: %s", RepoConfigPath, strings.Join(probs, "; "))
	}
	return s, nil
}

// settingsFor resolves a project's settings: timon.yaml's, narrowed by the
// .timon.yaml of the target branch. A repository may narrow what the
// institution set, never widen it (Settings.NarrowedBy).
// problem is a note for the summary when the file is invalid (its
// settings are then ignored) or asked for more than it may.
func (r *Reviewer) settingsFor(ctx context.Context, project int64, projectPath, targetBranch string) (s Settings, problem string, err error) {
	base := r.cfg.ProjectFor(projectPath).Settings
	if targetBranch == "" {
		return base, "", nil
	}
	data, err := r.api.RawFile(ctx, project, RepoConfigPath, targetBranch)
	if errors.Is(err, ErrNotFound) {
		return base, "", nil
	}
	if err != nil {
		return base, "", fmt.Errorf("reading %s from %s: %w", RepoConfigPath, targetBranch, err)
	}
	repo, perr := parseRepoConfig(data)
	if perr != nil {
		return base, "The project's " + perr.Error() + " — its settings were ignored.", nil
	}
	s, refused := base.NarrowedBy(repo)
	if len(refused) > 0 {
		problem = "The project's " + RepoConfigPath + " asks for more than the institution's settings allow (" +
			strings.Join(refused, ", ") + "); the institution's settings apply there."
	}
	return s, problem, nil
}
