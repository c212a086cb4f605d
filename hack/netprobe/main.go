// Command netprobe is the end-to-end tests' traffic tool, built into its own image: `serve`
// answers UDP echo on :7000; `udp ADDR N` sends N numbered datagrams to ADDR and prints how many
// came back. Bounded in count and time; it talks only to the address it is given.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "netprobe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: netprobe serve | udp ADDR N")
	}
	switch args[0] {
	case "serve":
		return serve()
	case "udp":
		if len(args) != 3 {
			return fmt.Errorf("usage: netprobe udp ADDR N")
		}
		n, err := strconv.Atoi(args[2])
		if err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("N must be 1-10000")
		}
		got, err := probe(args[1], n)
		if err != nil {
			return err
		}
		fmt.Printf("answered %d/%d\n", got, n)
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func serve() error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 7000})
	if err != nil {
		return err
	}
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return err
		}
		if _, err := conn.WriteToUDP(buf[:n], from); err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
		}
	}
}

func probe(addr string, n int) (int, error) {
	raddr, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return 0, err
	}
	conn, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			if err := conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
				return
			}
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			seen[string(buf[:k])] = true
		}
	}()
	for i := range n {
		// A refused send (ICMP unreachable from an earlier datagram) is just an unanswered one.
		_, _ = conn.Write([]byte(strconv.Itoa(i)))
		time.Sleep(time.Millisecond)
	}
	<-done
	return len(seen), nil
}
