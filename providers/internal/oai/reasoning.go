package oai

import "strconv"

// Think is the reasoning a request asked for, in provider-neutral terms.
type Think struct {
	On      bool   // reasoning requested
	Off     bool   // reasoning explicitly refused ("none", enabled: false)
	Effort  string // "minimal" … "xhigh", when given as an effort
	Budget  int64  // explicit token budget (reasoning.max_tokens), 0 when given as an effort
	Exclude bool   // reason, but do not return the reasoning text
}

// effortRatio is the share of the output cap an effort level may spend thinking, the rule
// OpenRouter documents for budget-based providers.
var effortRatio = map[string]float64{
	"minimal": 0.1, "low": 0.2, "medium": 0.5, "high": 0.8, "xhigh": 0.95,
}

// EffortRatio returns the budget share of an effort level.
func EffortRatio(effort string) float64 { return effortRatio[effort] }

// ThinkSpec reads OpenRouter's reasoning object, falling back to OpenAI's reasoning_effort.
// The object wins when both are present, since it is the more specific of the two.
func (r *Request) ThinkSpec() (Think, error) {
	var t Think
	if rs := r.Reasoning; rs != nil {
		t.Exclude = rs.Exclude
		if rs.Enabled != nil && !*rs.Enabled {
			return Think{Off: true}, nil
		}
		switch {
		case rs.MaxTokens != nil && *rs.MaxTokens == 0:
			return Think{Off: true}, nil
		case rs.MaxTokens != nil:
			t.On, t.Budget = true, *rs.MaxTokens
			return t, nil
		case rs.Effort == "none":
			return Think{Off: true}, nil
		case rs.Effort != "":
			if _, ok := effortRatio[rs.Effort]; !ok {
				return t, badEffort("reasoning.effort", rs.Effort)
			}
			t.On, t.Effort = true, rs.Effort
			return t, nil
		case rs.Enabled != nil:
			t.On, t.Effort = true, "medium"
			return t, nil
		}
	}
	switch r.ReasoningEffort {
	case "":
		return t, nil
	case "none":
		return Think{Off: true}, nil
	}
	if _, ok := effortRatio[r.ReasoningEffort]; !ok {
		return t, badEffort("reasoning_effort", r.ReasoningEffort)
	}
	t.On, t.Effort = true, r.ReasoningEffort
	return t, nil
}

func badEffort(field, v string) error {
	return &RequestError{Field: field, Message: "unknown effort " + strconv.Quote(v) +
		"; use none, minimal, low, medium, high or xhigh"}
}
