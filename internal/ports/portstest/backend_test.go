package portstest_test

import (
	"testing"

	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

func TestBackend(t *testing.T) {
	portstest.RunBackendSuite(t, func(t *testing.T) ports.Backend {
		return portstest.NewBackend()
	})
}
