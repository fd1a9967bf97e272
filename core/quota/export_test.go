package quota

import "time"

// BatchStats returns the batches run so far and the ops they held.
func (q *Quota) BatchStats() (batches, ops int64) {
	return q.batch.batches.Load(), q.batch.ops.Load()
}

// Queued returns the number of ops waiting for a batch.
func (q *Quota) Queued() int {
	q.batch.mu.Lock()
	defer q.batch.mu.Unlock()
	return len(q.batch.queue)
}

// Idle waits until no writer runs (every queued op, voids included, is
// committed), for at most d.
func (q *Quota) Idle(d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		q.batch.mu.Lock()
		running := q.batch.running
		q.batch.mu.Unlock()
		if !running {
			return true
		}
	}
	return false
}
