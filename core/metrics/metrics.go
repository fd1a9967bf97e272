// Package metrics owns timon's Prometheus metrics: their names, labels and
// the registry /metrics serves. Labels carry names (integration, task,
// provider, model, detector type), never content, users or secrets, so that
// their number stays bounded.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds every timon metric, plus the Go runtime and process ones.
var Registry = prometheus.NewRegistry()

var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

var (
	// Requests counts governed requests by outcome: the journal's outcome
	// names (audit.Outcomes: ok, denied, blocked, quota_exceeded,
	// provider_error, output_rejected, canceled, invalid, error).
	Requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timon_requests_total", Help: "Governed requests by integration, task and outcome.",
	}, []string{"integration", "task", "outcome"})
	// RequestDuration is the whole pipeline's latency.
	RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "timon_request_duration_seconds", Help: "Latency of governed requests, policy to journal.",
		Buckets: latencyBuckets,
	}, []string{"integration", "task"})
	// ProviderDuration is the latency of one call to a model endpoint.
	ProviderDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "timon_provider_request_duration_seconds", Help: "Latency of calls to model providers.",
		Buckets: latencyBuckets,
	}, []string{"provider", "operation"})
	// ProviderErrors counts failed calls by a short reason.
	ProviderErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timon_provider_errors_total", Help: "Failed calls to model providers by reason.",
	}, []string{"provider", "reason"})
	// Tokens counts tokens by model, prompt or completion.
	Tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timon_tokens_total", Help: "Tokens sent to and received from models.",
	}, []string{"model", "direction"})
	// Redactions counts redacted items by detector type.
	Redactions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timon_redactions_total", Help: "Items redacted before a model (or masked in its output) by type.",
	}, []string{"type"})
	// Moderation counts moderation findings by direction (in, out),
	// category and decision (block, warn, log; category "error" with
	// block or allow when no classifier answered).
	Moderation = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timon_moderation_total", Help: "Moderation findings by direction, category and decision.",
	}, []string{"direction", "category", "decision"})
	// QuotaRefusals counts requests refused by a quota, by the limit hit.
	QuotaRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timon_quota_refusals_total", Help: "Requests refused by a quota, by limit.",
	}, []string{"limit"})
	// JournalLag is how long the last committed journal batch's oldest
	// entry waited to be written.
	JournalLag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "timon_journal_lag_seconds", Help: "Wait of the oldest entry of the last journal commit.",
	})
	// HTTPRequests counts HTTP requests by route pattern and status.
	HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timon_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})

	jobsPending = prometheus.NewDesc("timon_jobs_pending", "Jobs waiting or running, by kind.", []string{"kind"}, nil)
	jobsAge     = prometheus.NewDesc("timon_jobs_oldest_age_seconds", "Age of the oldest pending job, by kind.", []string{"kind"}, nil)
)

func init() {
	Registry.MustRegister(Requests, RequestDuration, ProviderDuration, ProviderErrors, Tokens, Redactions,
		Moderation, QuotaRefusals, JournalLag, HTTPRequests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Handler serves the registry in the Prometheus text format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{})
}

// QueueStats is one kind's pending jobs.
type QueueStats struct {
	Pending   int
	OldestAge time.Duration
}

// jobsCollector asks the job queue at scrape time.
type jobsCollector struct {
	stats func(ctx context.Context) (map[string]QueueStats, error)
}

func (c jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsPending; ch <- jobsAge }

func (c jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsPending, err)
		return
	}
	for kind, s := range st {
		ch <- prometheus.MustNewConstMetric(jobsPending, prometheus.GaugeValue, float64(s.Pending), kind)
		ch <- prometheus.MustNewConstMetric(jobsAge, prometheus.GaugeValue, s.OldestAge.Seconds(), kind)
	}
}

var jobsOnce sync.Once

// WatchJobs makes /metrics report the job queue through stats, called at
// scrape time. Only the first call counts (one queue per process).
func WatchJobs(stats func(ctx context.Context) (map[string]QueueStats, error)) {
	jobsOnce.Do(func() { Registry.MustRegister(jobsCollector{stats: stats}) })
}
