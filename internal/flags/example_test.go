package flags_test

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/tenantkit/tenantkit/internal/flags"
)

func ExampleSnapshot_EvaluateAll() {
	acme := uuid.MustParse("6ba7b810-9dad-41d1-80b4-00c04fd430c8")
	snap, err := flags.NewSnapshot([]flags.Flag{
		{Key: "sso", MinPlan: "pro", Default: true},
		{Key: "new-editor", Rollout: 2500}, // 25 %
		{Key: "legacy-export", KillSwitch: true, Overrides: map[uuid.UUID]bool{acme: true}},
		{Key: "dark-mode", Default: true},
	}, map[string]int{"free": 0, "pro": 1, "enterprise": 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ev := range snap.EvaluateAll(acme, "free") {
		fmt.Println(ev.Key, ev.Value, ev.Reason)
	}
	fmt.Println("acme's new-editor bucket:", flags.Bucket("new-editor", acme))
	// Output:
	// dark-mode true default
	// legacy-export true override
	// new-editor true rollout
	// sso false plan_gate
	// acme's new-editor bucket: 2002
}

func ExampleNewSnapshot_invalid() {
	_, err := flags.NewSnapshot([]flags.Flag{{Key: "beta", Rollout: 10001}}, nil)
	fmt.Println(err)
	// Output:
	// flags: invalid flag "beta": rollout 10001 is outside 0..10000 basis points
}

func ExampleProvider() {
	ctx := context.Background()
	engine, err := flags.NewEngine(flags.EngineConfig{
		LoadFunc: func(context.Context) (*flags.Snapshot, error) {
			return flags.NewSnapshot([]flags.Flag{{Key: "sso", MinPlan: "pro", Default: true}}, map[string]int{"free": 0, "pro": 1})
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := engine.Refresh(ctx); err != nil {
		fmt.Println(err)
		return
	}
	provider, err := flags.NewProvider(flags.ProviderConfig{
		Evaluator: engine,
		PlanFunc:  func(context.Context, uuid.UUID) (string, error) { return "free", nil },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	api := isolated.NewAPI()
	defer func() { _ = api.Shutdown(ctx) }()
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		fmt.Println(err)
		return
	}
	client := api.NewClient()

	tenant := "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
	onPro, _ := client.BooleanValueDetails(ctx, "sso", false, openfeature.NewEvaluationContext(tenant, map[string]any{"plan": "pro"}))
	fmt.Println(onPro.Value, onPro.Reason, onPro.Variant)
	viaPlanFunc, _ := client.BooleanValueDetails(ctx, "sso", false, openfeature.NewEvaluationContext(tenant, nil))
	reason, _ := viaPlanFunc.FlagMetadata.GetString(flags.ReasonMetadataKey)
	fmt.Println(viaPlanFunc.Value, viaPlanFunc.Reason, reason)
	// Output:
	// true DEFAULT on
	// false TARGETING_MATCH plan_gate
}
