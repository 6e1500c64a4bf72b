// fleet-dns: the DNS server behind the conformance suite's `coredns` Service (UDPRoute test).
//
// Upstream runs CoreDNS with a Corefile that answers `foo.bar.com` with its `whoami` plugin and
// forwards everything else to public resolvers. The suite only checks that a query sent to the
// Gateway gets an answer (tests/udproute-simple.go: dns.Exchange succeeds), so this answers every
// A query itself, whoami style (the client's address as the A record), and never forwards: the
// data-path tests must not send a packet outside their network namespaces.
package main

import (
	"flag"
	"log"
	"net"

	"github.com/miekg/dns"
)

func main() {
	addr := flag.String("listen", ":53", "UDP address to answer on")
	flag.Parse()
	dns.HandleFunc(".", func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		for _, q := range req.Question {
			if q.Qtype != dns.TypeA && q.Qtype != dns.TypeANY {
				continue
			}
			ip := net.IPv4(127, 0, 0, 1)
			if ua, ok := w.RemoteAddr().(*net.UDPAddr); ok && ua.IP.To4() != nil {
				ip = ua.IP.To4()
			}
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: ip})
		}
		if err := w.WriteMsg(m); err != nil {
			log.Printf("write answer: %v", err)
		}
	})
	srv := &dns.Server{Addr: *addr, Net: "udp"}
	log.Printf("answering DNS queries on udp %s", *addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Fatal(err)
	}
}
