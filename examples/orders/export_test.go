package orders

// SetReceiptHooks makes w call before just before it hands a message to the
// provider and after just after; an error stops the run there, as a failed
// send (before) or a worker killed before it recorded its send (after)
// would.
func SetReceiptHooks(w *ReceiptWorker, before, after func() error) {
	w.beforeSend, w.afterSend = before, after
}
