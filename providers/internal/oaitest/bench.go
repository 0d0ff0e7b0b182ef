package oaitest

// BenchRequest is a typical agent turn (about 2 KB): system prompt, a multi-turn conversation
// with a tool call and its result, two tools, sampling and reasoning settings.
const BenchRequest = `{"model":"x/y","stream":false,"max_tokens":4096,"temperature":0.7,"reasoning_effort":"low",` +
	`"messages":[{"role":"system","content":"You are a helpful assistant for a travel company. Answer briefly, cite the tool results you used, and never invent prices or schedules. If the user asks for something outside travel, politely decline."},` +
	`{"role":"user","content":"I want to fly from Paris to Rome next Friday morning and come back on Sunday evening. What are my options?"},` +
	`{"role":"assistant","content":"Let me look up the flights.","tool_calls":[{"id":"call_abc123","type":"function","function":{"name":"search_flights","arguments":"{\"from\":\"CDG\",\"to\":\"FCO\",\"date\":\"2026-05-15\",\"time_of_day\":\"morning\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_abc123","content":"[{\"flight\":\"AF1404\",\"departs\":\"07:15\",\"arrives\":\"09:20\",\"price_eur\":129},{\"flight\":\"AZ317\",\"departs\":\"09:40\",\"arrives\":\"11:45\",\"price_eur\":98}]"},` +
	`{"role":"assistant","content":"There are two morning flights: AF1404 at 07:15 (129 EUR) and AZ317 at 09:40 (98 EUR). Shall I check the return on Sunday evening?"},` +
	`{"role":"user","content":"Yes please, and tell me which combination is cheapest overall."}],` +
	`"tools":[{"type":"function","function":{"name":"search_flights","description":"Search scheduled flights between two airports on a date.","parameters":{"type":"object","properties":{"from":{"type":"string","description":"IATA code"},"to":{"type":"string","description":"IATA code"},"date":{"type":"string","format":"date"},"time_of_day":{"type":"string","enum":["morning","afternoon","evening"]}},"required":["from","to","date"]}}},` +
	`{"type":"function","function":{"name":"book_flight","description":"Book a flight for the user.","parameters":{"type":"object","properties":{"flight":{"type":"string"},"passengers":{"type":"integer","minimum":1}},"required":["flight"]}}}]}`
