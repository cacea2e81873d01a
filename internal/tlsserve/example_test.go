package tlsserve_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tenantkit/tenantkit/internal/acmetest"
	"github.com/tenantkit/tenantkit/internal/dnstest"
	"github.com/tenantkit/tenantkit/internal/tlsserve"
)

// A tenant's verified custom domain gets a certificate from the CA on its
// first HTTPS request. Here the CA is Pebble, in process, validating HTTP-01
// through a test DNS server that points the domain at loopback.
func Example() {
	const domain = "shop.example-customer.test"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	dns, err := dnstest.Start(nil)
	if err != nil {
		panic(err)
	}
	defer dns.Close()
	dns.SetA(domain, net.ParseIP("127.0.0.1"))
	httpLn, err := net.Listen("tcp", "127.0.0.1:0") // plain HTTP, where HTTP-01 is validated
	if err != nil {
		panic(err)
	}
	defer httpLn.Close()
	httpPort := httpLn.Addr().(*net.TCPAddr).Port
	ca, err := acmetest.Start(&acmetest.Config{Resolver: dns.Addr(), HTTPPort: httpPort})
	if err != nil {
		panic(err)
	}
	defer ca.Close()
	dir, err := os.MkdirTemp("", "tlsserve-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	front, err := tlsserve.New(ctx, &tlsserve.Config{
		Storage:             &certmagic.FileStorage{Path: dir},
		ListFunc:            func(context.Context) ([]string, error) { return []string{domain}, nil },
		DirectoryURL:        ca.DirectoryURL(),
		CARoots:             ca.APIRoots(),
		HTTPPort:            httpPort,
		ChallengeListenHost: "127.0.0.1",
	})
	if err != nil {
		panic(err)
	}
	defer front.Close()
	go http.Serve(httpLn, front.HTTPHandler(nil))
	tlsLn, err := tls.Listen("tcp", "127.0.0.1:0", front.TLSConfig())
	if err != nil {
		panic(err)
	}
	defer tlsLn.Close()
	go http.Serve(tlsLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Host)
	}))

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.IssuerRoots()}, // the certificate must chain to Pebble's root
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, tlsLn.Addr().String())
		},
	}}
	for range 2 {
		resp, err := client.Get("https://" + domain + "/")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
		client.CloseIdleConnections() // a new handshake each time
	}
	fmt.Println("ACME orders:", ca.Orders())
	// Output:
	// 200 hello from shop.example-customer.test
	// 200 hello from shop.example-customer.test
	// ACME orders: 1
}
