package testutil

import "runtime"

// HeapInUse returns the live heap after two full collections: what the
// scale tests compare before and after filling a table.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
