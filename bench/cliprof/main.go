// Command cliprof runs one countersign command line N times in one process
// under Go's CPU profiler (and, with -mem, records every allocation), for
// finding where a whole command spends its time and memory:
// go run ./bench/cliprof -n 5 -o cpu.prof -- psbt inspect F.
// Each run goes through cli.Run as the countersign binary does (a fresh
// factory, store and coordinator per run).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/countersign/countersign/cli"
)

func main() {
	n := flag.Int("n", 5, "runs")
	out := flag.String("o", "cpu.prof", "CPU profile file")
	mem := flag.String("mem", "", "also write an allocation profile (every allocation sampled) here")
	flag.Parse()
	if *mem != "" {
		runtime.MemProfileRate = 1
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	for i := 0; i < *n; i++ {
		t := time.Now()
		fac := cli.NewFactory(cli.SystemStreams(), os.Getenv)
		code := cli.Run(context.Background(), fac, flag.Args())
		fac.Close()
		fmt.Fprintf(os.Stderr, "run %d: exit %d, %.3f s\n", i+1, code, time.Since(t).Seconds())
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	if *mem != "" {
		m, err := os.Create(*mem)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(m, 0); err != nil {
			log.Fatal(err)
		}
		if err := m.Close(); err != nil {
			log.Fatal(err)
		}
	}
}
