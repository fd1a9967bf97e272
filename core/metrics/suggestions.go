package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	// SuggestionsShown counts the completion suggestions editors showed,
	// by integration and language (core.SuggestionLanguage).
	SuggestionsShown = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timon_suggestions_shown_total", Help: "Completion suggestions shown in editors, by integration and language.",
	}, []string{"integration", "language"})
	// SuggestionsAccepted counts the suggestions the user accepted; with
	// SuggestionsShown, the acceptance rate of the completion model.
	SuggestionsAccepted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "timon_suggestions_accepted_total", Help: "Completion suggestions accepted in editors, by integration and language.",
	}, []string{"integration", "language"})
)

func init() {
	Registry.MustRegister(SuggestionsShown, SuggestionsAccepted)
}
