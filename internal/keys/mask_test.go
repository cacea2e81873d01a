package keys_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/keys"
)

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct{ secret, want string }{
		{"", ""},
		{"a", "••••••••"},
		{"hunter2", "••••••••"},
		{"12345678901", "••••••••"},
		{"123456789012", "••••9012"},
		{"sk_live_51Hc0ffee9c2d3f9a", "••••3f9a"},
		{"пароль-пароль-ключ", "••••ключ"},
	}
	for _, tt := range tests {
		if got := keys.Mask(tt.secret); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.secret, got, tt.want)
		}
		if tt.secret != "" && len([]rune(tt.secret)) > 4 && strings.Contains(keys.Mask(tt.secret), tt.secret[:len(tt.secret)/2]) {
			t.Errorf("Mask(%q) shows its first half", tt.secret)
		}
	}
}

func ExampleMask() {
	fmt.Println(keys.Mask("sk_live_51Hc0ffee9c2d3f9a"))
	fmt.Println(keys.Mask("hunter2"))
	// Output:
	// ••••3f9a
	// ••••••••
}
