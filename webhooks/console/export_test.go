package console

// SetPendingDeviceCap sets the number of undecided device authorizations
// beyond which c refuses new ones (10,000 otherwise): tests reach it
// without writing that many.
func SetPendingDeviceCap(c *Console, n int) { c.pendingCap = n }
