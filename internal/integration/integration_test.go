package integration_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/integration"
)

func TestValidateNamesFieldsNeverValues(t *testing.T) {
	s := integration.Spec{Type: integration.Email, Provider: "smtp",
		Credentials: []integration.Field{{Name: "password", Required: true}},
		Settings:    []integration.Field{{Name: "host", Required: true}, {Name: "port"}}}
	if err := s.Validate(map[string]string{"password": "hunter2"}, map[string]string{"host": "mail.example"}); err != nil {
		t.Fatal(err)
	}
	err := s.Validate(map[string]string{"password": " ", "token": "s3cret-value"}, map[string]string{"port": "25"})
	if !errors.Is(err, integration.ErrInvalidConfig) {
		t.Fatalf("want ErrInvalidConfig, got %v", err)
	}
	for _, want := range []string{`credential "password" is required`, `credential "token" is not one smtp takes`, `setting "host" is required`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret-value") {
		t.Fatalf("the error shows a secret: %v", err)
	}
}
