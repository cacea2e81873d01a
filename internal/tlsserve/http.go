package tlsserve

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// HTTPHandler serves plain HTTP: it answers ACME HTTP-01 challenges (for
// this Front and, through the shared Storage, for any Front sharing it),
// passes every other request to next, and with a nil next redirects it to
// https with 308 Permanent Redirect, which keeps the method and body.
func (f *Front) HTTPHandler(next http.Handler) http.Handler {
	if next == nil {
		next = http.HandlerFunc(f.redirect)
	}
	return f.acme.HTTPChallengeHandler(next)
}

func (f *Front) redirect(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		http.Error(w, "missing Host", http.StatusBadRequest)
		return
	}
	switch {
	case f.cfg.HTTPSPort != 443:
		host = net.JoinHostPort(host, strconv.Itoa(f.cfg.HTTPSPort))
	case strings.Contains(host, ":"): // an IPv6 literal
		host = "[" + host + "]"
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
}
