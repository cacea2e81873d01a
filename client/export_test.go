package client

// ParseRetryAfter exports parseRetryAfter to the tests.
var ParseRetryAfter = parseRetryAfter
