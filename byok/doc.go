// Package byok holds organizations' own provider credentials ("bring your own key"): how they
// are sealed at rest (AES-256-GCM under a master key from the environment, with rotation), and
// the in-memory cache the request path reads them from.
//
// A credential's secret exists in clear only in this process's memory: the store keeps the
// sealed form, the Management API returns a label ("openai key …abcd"), and logs name
// credentials by id and label only.
package byok
