// Floats on cgo threads (issue 22): a float function called from goroutines, and
// from threads that C created (pthread_create) and that call back into Go. Each
// call prints its argument and result with %v.
package main

/*
#include <pthread.h>
#include <stdint.h>

extern void goCallback(double x);

static void *worker(void *arg) {
	double base = (double)(intptr_t)arg;
	for (int i = 0; i < 5; i++)
		goCallback(base + i * 0.5);
	return 0;
}

static void run_threads(int n) {
	pthread_t t[8];
	for (int i = 0; i < n && i < 8; i++)
		pthread_create(&t[i], 0, worker, (void *)(intptr_t)(i * 10));
	for (int i = 0; i < n && i < 8; i++)
		pthread_join(t[i], 0);
}
*/
import "C"

import (
	"fmt"
	"sync"
)

var mu sync.Mutex

//go:noinline
func scaled(x float64, k float32) float64 {
	r := x * float64(k)
	mu.Lock()
	fmt.Printf("scaled(%v, %v) = %v\n", x, k, r)
	mu.Unlock()
	return r
}

//export goCallback
func goCallback(x C.double) {
	scaled(float64(x), 1.5)
}

func main() {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				scaled(float64(g)+0.25*float64(i), 2.5)
			}
		}(g)
	}
	C.run_threads(4)
	wg.Wait()
	fmt.Println("done")
}
