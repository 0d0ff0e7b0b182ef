package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/config"
	"github.com/arouter/arouter/mockllm"
	"github.com/arouter/arouter/providers/anthropic"
	"github.com/arouter/arouter/proxy"
)

// TestModelsProbe checks the probe the gateway wires for each kind of provider against the
// mock: healthy when the models list answers with the provider's key, failing when the key is
// wrong or the provider is gone.
func TestModelsProbe(t *testing.T) {
	t.Parallel()
	mock, url, err := mockllm.Start("127.0.0.1:0", mockllm.Behavior{APIKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	openaiKind := &config.Provider{Kind: config.KindOpenAI}
	if err := modelsProbe(proxy.ProviderOptions{BaseURL: url, APIKey: "secret"}, openaiKind)(ctx); err != nil {
		t.Fatalf("healthy provider: %v", err)
	}
	if err := modelsProbe(proxy.ProviderOptions{BaseURL: url, APIKey: "wrong"}, openaiKind)(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong key: %v", err)
	}
	// A mock speaking Anthropic's API is probed through the mock's own (OpenAI) models list,
	// at the root its native paths hang from.
	mockKind := &config.Provider{Kind: config.KindMock, Mock: &config.Mock{Wire: config.KindAnthropic}}
	root := strings.TrimSuffix(url, "/v1")
	if err := modelsProbe(proxy.ProviderOptions{BaseURL: root, APIKey: "secret", Adapter: anthropic.Adapter{}}, mockKind)(ctx); err != nil {
		t.Fatalf("mock with Anthropic's wire: %v", err)
	}
	_ = mock.Shutdown()
	if err := modelsProbe(proxy.ProviderOptions{BaseURL: url, APIKey: "secret"}, openaiKind)(ctx); err == nil {
		t.Fatal("a stopped provider probed healthy")
	}
}
