// Package generations runs pion libraries built on older transport
// generations over icelab's vnet through its adapters (vnet/transportv3,
// vnet/transportv4), as teams on older pion would.
package generations
