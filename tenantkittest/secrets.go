package tenantkittest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// The secrets a test binary registered, and everything it wrote to its
// standard output and error — its own logs, the testing package's, and its
// child processes' — so that Main can check no secret was ever printed.
var (
	secretsMu sync.Mutex
	secrets   []string
)

// Secret registers s as a secret the test binary must never print — in a
// log line, an error a test logs, or a child process's output — and
// returns it. Main fails the binary when one appears.
func Secret(s string) string {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	secrets = append(secrets, s)
	return s
}

// capture tees file descriptors 1 and 2 through a pipe into a buffer,
// keeping the output where it went. stop restores them and returns what
// was written.
func capture() (stop func() []byte, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	var saved [3]int
	for _, fd := range []int{1, 2} {
		if saved[fd], err = syscall.Dup(fd); err != nil {
			return nil, err
		}
	}
	outs := []io.Writer{os.NewFile(uintptr(saved[1]), "stdout")}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.MultiWriter(append(outs, &buf)...), r)
	}()
	for _, fd := range []int{1, 2} {
		if err := syscall.Dup2(int(w.Fd()), fd); err != nil {
			return nil, err
		}
	}
	return func() []byte {
		for _, fd := range []int{1, 2} {
			_ = syscall.Dup2(saved[fd], fd)
		}
		w.Close()
		<-done
		return buf.Bytes()
	}, nil
}

// leakedSecrets returns the registered secrets found in out.
func leakedSecrets(out []byte) []string {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	var found []string
	for _, s := range secrets {
		if bytes.Contains(out, []byte(s)) {
			found = append(found, s)
		}
	}
	return found
}

func checkSecrets(out []byte) int {
	if leaked := leakedSecrets(out); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "tenantkittest: %d registered secrets appeared in the test output (logs, errors, child processes)\n", len(leaked))
		return 1
	}
	return 0
}
