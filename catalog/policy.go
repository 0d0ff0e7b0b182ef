package catalog

import "fmt"

// Policy says how a model's deployments are ranked when a request does not say otherwise. It is
// a property of the model, not of a request, because it encodes the operator's intent (a primary
// and its backups, a traffic split, "whichever is fastest"); a request's provider preferences
// are applied on top of it by the balancer.
type Policy uint8

const (
	// PolicyPriority tries deployments in configuration order. It is the zero value, so a model
	// configured without a policy keeps the behaviour of a priority list.
	PolicyPriority Policy = iota
	// PolicyWeighted spreads requests at random in proportion to Deployment.Weight.
	PolicyWeighted
	// PolicyLatency prefers the deployment with the lowest recent time to first byte.
	PolicyLatency
	// PolicyPrice prefers the cheapest deployment; equal prices keep configuration order.
	PolicyPrice
)

// policyNames are the spellings configuration files use, indexed by Policy.
var policyNames = [...]string{
	PolicyPriority: "priority",
	PolicyWeighted: "weighted",
	PolicyLatency:  "latency",
	PolicyPrice:    "price",
}

// String returns the policy as configuration spells it.
func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// valid reports whether p is one of the defined policies.
func (p Policy) valid() bool { return int(p) < len(policyNames) }

// ParsePolicy reads a policy as configuration spells it; "" is the default, priority. The error
// lists the accepted spellings so that configuration validation can show it as is.
func ParsePolicy(s string) (Policy, error) {
	if s == "" {
		return PolicyPriority, nil
	}
	for p, name := range policyNames {
		if s == name {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("unknown routing policy %q (use priority, weighted, latency or price)", s)
}
