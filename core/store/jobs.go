package store

import (
	"context"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// JobClient is what the job queue (core/jobs) needs of a River client,
// whatever its driver.
type JobClient interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// NewJobClient is the part of Driver.JobClient common to every River driver:
// migrate, then build the client.
func NewJobClient[TTx any](ctx context.Context, drv riverdriver.Driver[TTx], cfg *river.Config) (JobClient, error) {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return nil, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, err
	}
	return river.NewClient(drv, cfg)
}
