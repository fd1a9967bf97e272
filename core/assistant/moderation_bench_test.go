package assistant_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"timon.dev/timon/core/assistant/assistanttest"
	"timon.dev/timon/core/policy"
	"timon.dev/timon/core/provider"
	"timon.dev/timon/core/provider/fakellm"
)

// BenchmarkModerationAdded measures what moderation adds to a governed
// chat request, input and output moderated, with fakellm answering the
// classifier in 20 ms and the model in 50 ms (then streaming a 6-sentence
// answer in 16-byte chunks, 2 ms apart). Each iteration sends the same
// request as a moderated and as a plain user, whole (Do) and streamed,
// and the benchmark reports per concurrency (1 and 16):
//
//   - do-p50-ms, do-p99-ms: the latency of the moderated Do, and
//     added-p50-ms, added-p99-ms, what it adds to the plain one's;
//   - ttft-p50-ms: the moderated stream's first token, and holdback-p50-ms,
//     holdback-p99-ms, what it adds to the plain stream's: the first
//     sentence waits for its classification.
func BenchmarkModerationAdded(b *testing.B) {
	fake := fakellm.New()
	defer fake.Close()
	fake.Record(false)
	const answer = "The results are consistent with the model. The second run confirms it. " +
		"Noise stays below two percent.\nThe calibration drifted once. It was corrected on day three. " +
		"Nothing else needs attention."
	fake.Handle(func(q fakellm.Request) fakellm.Reply {
		if strings.HasSuffix(q.Path, "/moderations") {
			return fakellm.Reply{FirstTokenDelay: 20 * time.Millisecond}
		}
		return fakellm.Reply{Text: answer, FirstTokenDelay: 50 * time.Millisecond, ChunkSize: 16, ChunkDelay: 2 * time.Millisecond}
	})
	k, err := provider.NewClassifier(provider.ClassifierConfig{Config: provider.Config{
		Name: "bench", Kind: provider.KindMistral, BaseURL: fake.URL(), Timeout: 5 * time.Second, Sovereign: true}})
	if err != nil {
		b.Fatal(err)
	}
	all := map[string]policy.ModerationAction{"*": {Action: policy.ModBlock}}
	rig := assistanttest.New(b, assistanttest.Options{ProviderURL: fake.URL(), Classifiers: []*provider.Classifier{k},
		Rules: []policy.Rule{
			{Name: "moderated", Effect: "allow", Match: policy.Match{Groups: []string{"moderated"}},
				Moderation: &policy.Moderation{Input: all, Output: all}},
			{Name: "plain", Effect: "allow"},
		}})
	prompt := strings.Repeat("the cluster results show a significant increase ", 20)

	type sample struct{ do, ttft [2]time.Duration } // [plain, moderated]
	measure := func(groups []string) (do, ttft time.Duration, err error) {
		start := time.Now()
		if _, err := rig.Engine.Do(context.Background(), chat("bench", groups, prompt)); err != nil {
			return 0, 0, err
		}
		do = time.Since(start)
		start = time.Now()
		_, err = rig.Engine.Stream(context.Background(), chat("bench", groups, prompt), func(string) error {
			if ttft == 0 {
				ttft = time.Since(start)
			}
			return nil
		})
		return do, ttft, err
	}
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			samples := make([]sample, b.N)
			var (
				next atomic.Int64
				wg   sync.WaitGroup
			)
			b.ResetTimer()
			for range conc {
				wg.Go(func() {
					for {
						i := int(next.Add(1) - 1)
						if i >= len(samples) {
							return
						}
						for v, groups := range [][]string{nil, {"moderated"}} {
							do, ttft, err := measure(groups)
							if err != nil {
								b.Error(err)
								return
							}
							samples[i].do[v], samples[i].ttft[v] = do, ttft
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			pct := func(f func(sample) time.Duration, q float64) float64 {
				ds := make([]time.Duration, len(samples))
				for i, s := range samples {
					ds[i] = f(s)
				}
				slices.Sort(ds)
				return float64(ds[int(q*float64(len(ds)-1))]) / float64(time.Millisecond)
			}
			plainDo := func(s sample) time.Duration { return s.do[0] }
			modDo := func(s sample) time.Duration { return s.do[1] }
			plainTTFT := func(s sample) time.Duration { return s.ttft[0] }
			modTTFT := func(s sample) time.Duration { return s.ttft[1] }
			b.ReportMetric(pct(modDo, 0.50), "do-p50-ms")
			b.ReportMetric(pct(modDo, 0.99), "do-p99-ms")
			b.ReportMetric(pct(modDo, 0.50)-pct(plainDo, 0.50), "added-p50-ms")
			b.ReportMetric(pct(modDo, 0.99)-pct(plainDo, 0.99), "added-p99-ms")
			b.ReportMetric(pct(modTTFT, 0.50), "ttft-p50-ms")
			b.ReportMetric(pct(modTTFT, 0.50)-pct(plainTTFT, 0.50), "holdback-p50-ms")
			b.ReportMetric(pct(modTTFT, 0.99)-pct(plainTTFT, 0.99), "holdback-p99-ms")
		})
	}
}
