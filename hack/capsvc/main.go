// Command capsvc is the service `make bench-capacity` measures the capacity model against: an
// HTTP server with a concurrency limit (workers) and a known service time, exponentially
// distributed around its mean, spent holding a worker. Requests beyond the workers queue.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	workers := flag.Int("workers", 4, "requests served at once; the rest wait")
	mean := flag.Duration("service-time", 20*time.Millisecond, "mean service time (exponential)")
	flag.Parse()
	sem := make(chan struct{}, *workers)
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		sem <- struct{}{} // blocked senders are served in arrival order
		time.Sleep(time.Duration(rand.ExpFloat64() * float64(*mean)))
		<-sem
		w.WriteHeader(http.StatusNoContent)
	})
	fmt.Fprintf(os.Stderr, "capsvc on %s: %d workers, mean service time %s\n", *addr, *workers, *mean)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
