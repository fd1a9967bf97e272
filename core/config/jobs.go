package config

import "time"

// Jobs tunes the durable job queue (chat answers, merge-request reviews).
type Jobs struct {
	// Workers is how many jobs one process runs at once.
	Workers int `yaml:"workers"`
	// JobTimeout bounds one run of a job.
	JobTimeout Duration `yaml:"job_timeout"`
	// RescueAfter is how long a job may stay running before it is deemed
	// lost with its process (killed, crashed) and run again.
	RescueAfter Duration `yaml:"rescue_after"`
	// PollInterval is how often idle workers look for new jobs: the
	// longest a queued job waits to start.
	PollInterval Duration `yaml:"poll_interval"`
}

func (c *Config) jobsDefaults() {
	if c.Jobs.Workers == 0 {
		c.Jobs.Workers = 16
	}
	if c.Jobs.JobTimeout == 0 {
		c.Jobs.JobTimeout = Duration(5 * time.Minute)
	}
	if c.Jobs.PollInterval == 0 {
		c.Jobs.PollInterval = Duration(100 * time.Millisecond)
	}
	if c.Jobs.RescueAfter == 0 {
		c.Jobs.RescueAfter = c.Jobs.JobTimeout + Duration(time.Minute)
	}
}

func (l *loader) validateJobs(c *Config) {
	if c.Jobs.Workers < 0 {
		l.add("jobs.workers", "expected a positive number")
	}
	if c.Jobs.JobTimeout < 0 {
		l.add("jobs.job_timeout", "expected a positive duration")
	}
	if c.Jobs.PollInterval < Duration(time.Millisecond) {
		l.add("jobs.poll_interval", "expected a duration of at least 1ms")
	}
	if c.Jobs.RescueAfter <= c.Jobs.JobTimeout {
		l.add("jobs.rescue_after", "expected a duration longer than job_timeout (%s), or a running job would be run twice", time.Duration(c.Jobs.JobTimeout))
	}
}
