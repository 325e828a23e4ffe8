// Command driver is a small cnitool: it runs a CNI network list through
// libcni, the library containerd, podman's CNI backend and cnitool share, so
// the plugin sees what those runtimes send (reordered config keys, the ADD
// result cached on disk and handed back as prevResult to CHECK and DEL).
//
// Built offline against Debian's golang-github-appc-cni-dev in GOPATH mode:
//
//	GO111MODULE=off GOPATH=$tmp/gopath:/usr/share/gocode GOPROXY=off \
//	    go build -o $tmp/driver ./tests/libcni
//
// Usage:
//
//	driver [flags] add    CONFLIST NETNS CONTAINER-ID IFNAME   (prints the result)
//	driver [flags] check  CONFLIST NETNS CONTAINER-ID IFNAME
//	driver [flags] del    CONFLIST NETNS CONTAINER-ID IFNAME
//	driver [flags] gc     CONFLIST [CONTAINER-ID/IFNAME ...]     (the valid attachments)
//	driver [flags] status CONFLIST
//
// CONFLIST may also be a single plugin's config (no "plugins"): add, check
// and del then go through libcni's AddNetwork/CheckNetwork/DelNetwork, as
// Multus runs a NetworkAttachmentDefinition whose spec.config is one plugin.
//
// -caps JSON is the runtime's CapabilityArgs (Multus: "ips", "mac",
// "deviceID" from the pod's annotations and the device plugin; containerd:
// "portMappings", "bandwidth", ...). libcni copies into a plugin's
// "runtimeConfig" only those its config declares in "capabilities", at the
// plugin's top level. -args "K=V;K=V" is the runtime's CNI_ARGS.
//
// CNI_PATH (colon-separated) names the plugin directories. The result cache
// goes to -cache-dir or $CNI_CACHE_DIR; one of them is required, so a test
// never writes into the machine's /var/lib/cni.
//
// Debian's libcni is 1.1.2: it has no GCNetworkList and no
// GetStatusNetworkList (both arrived in libcni 1.2.0) and no 1.1.0 result
// type, so the config list must stay at cniVersion 1.0.0 for add/check/del.
// gc and status therefore do what libcni 1.2's plugin step does, on top of
// this libcni's own pieces (InjectConf, pkg/invoke): inject "name",
// "cniVersion" (-gc-version, default 1.1.0) and, for gc,
// "cni.dev/valid-attachments" into each plugin's config and run the plugin
// with CNI_COMMAND=GC or STATUS and no container, netns or ifname. libcni 1.2's
// first GC half (a DEL for every cached attachment that is not valid) is not
// reproduced: this libcni's cache does not record the netns, so that DEL could
// not be the one libcni 1.2 sends. gc here exercises the plugin's own GC.
//
// Exit status: 0 on success; 1 on any failure, with a line on stderr that
// includes "CNI error code N" when the plugin answered with a CNI error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
)

const usage = `usage: driver [flags] add|check|del CONFLIST NETNS CONTAINER-ID IFNAME
       driver [flags] gc CONFLIST [CONTAINER-ID/IFNAME ...]
       driver [flags] status CONFLIST
flags:
`

// gcAttachment is one entry of "cni.dev/valid-attachments" (CNI 1.1 spec;
// libcni 1.2's types.GCAttachment has the same JSON).
type gcAttachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
}

func main() {
	cacheDir := flag.String("cache-dir", os.Getenv("CNI_CACHE_DIR"),
		"libcni result cache directory (default $CNI_CACHE_DIR; required)")
	gcVersion := flag.String("gc-version", "1.1.0",
		"cniVersion injected into the plugin configs for gc and status")
	caps := flag.String("caps", "",
		`capability args as a JSON object, e.g. {"ips":["192.0.2.20/24"],"mac":"02:00:00:00:00:20"}`)
	cniArgs := flag.String("args", "", "CNI_ARGS, e.g. IgnoreUnknown=1;K8S_POD_NAMESPACE=default")
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	if len(args) < 2 {
		flag.Usage()
		os.Exit(2)
	}
	if *cacheDir == "" {
		fail("no cache directory: pass -cache-dir or set CNI_CACHE_DIR", nil)
	}
	cmd, confFile := args[0], args[1]

	list, single := readConfig(confFile)
	cni := libcni.NewCNIConfigWithCacheDir(cniPath(), *cacheDir, nil)
	ctx := context.Background()

	switch cmd {
	case "add", "check", "del":
		if len(args) != 5 {
			flag.Usage()
			os.Exit(2)
		}
		rt := &libcni.RuntimeConf{
			ContainerID:    args[3],
			NetNS:          args[2],
			IfName:         args[4],
			Args:           parseArgs(*cniArgs),
			CapabilityArgs: parseCaps(*caps),
		}
		if single != nil {
			runSingle(ctx, cni, single, cmd, rt)
		} else {
			run(ctx, cni, list, cmd, rt)
		}
	case "gc":
		valid := []gcAttachment{} // never nil: an empty list must be "[]"
		for _, a := range args[2:] {
			cid, ifname, ok := strings.Cut(a, "/")
			if !ok || cid == "" || ifname == "" {
				fail("bad attachment "+a+" (want CONTAINER-ID/IFNAME)", nil)
			}
			valid = append(valid, gcAttachment{ContainerID: cid, IfName: ifname})
		}
		err := eachPlugin(ctx, cni, list, "GC", *gcVersion, map[string]interface{}{
			"cni.dev/valid-attachments": valid,
		})
		check("gc", err)
	case "status":
		if len(args) != 2 {
			flag.Usage()
			os.Exit(2)
		}
		check("status", eachPlugin(ctx, cni, list, "STATUS", *gcVersion, nil))
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// readConfig reads a network list, or a single plugin's config (returned
// too, with the list libcni makes of it for gc and status).
func readConfig(file string) (*libcni.NetworkConfigList, *libcni.NetworkConfig) {
	bytes, err := os.ReadFile(file)
	if err != nil {
		fail("reading "+file, err)
	}
	var probe map[string]interface{}
	if err := json.Unmarshal(bytes, &probe); err != nil {
		fail("parsing "+file, err)
	}
	if _, ok := probe["plugins"]; ok {
		list, err := libcni.ConfListFromBytes(bytes)
		check("reading the network list "+file, err)
		return list, nil
	}
	single, err := libcni.ConfFromBytes(bytes)
	check("reading the network config "+file, err)
	list, err := libcni.ConfListFromConf(single)
	check("making a list of "+file, err)
	return list, single
}

// parseCaps decodes -caps: nil when empty.
func parseCaps(text string) map[string]interface{} {
	if text == "" {
		return nil
	}
	caps := map[string]interface{}{}
	if err := json.Unmarshal([]byte(text), &caps); err != nil {
		fail("bad -caps "+text, err)
	}
	return caps
}

// parseArgs splits -args "K=V;K=V" into libcni's pairs.
func parseArgs(text string) [][2]string {
	var pairs [][2]string
	for _, kv := range strings.Split(text, ";") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fail("bad -args entry "+kv+" (want KEY=VALUE)", nil)
		}
		pairs = append(pairs, [2]string{k, v})
	}
	return pairs
}

// runSingle performs add, check or del of one plugin's config, as Multus
// does for a NetworkAttachmentDefinition that is not a list.
func runSingle(ctx context.Context, cni *libcni.CNIConfig, conf *libcni.NetworkConfig,
	cmd string, rt *libcni.RuntimeConf) {
	switch cmd {
	case "add":
		result, err := cni.AddNetwork(ctx, conf, rt)
		check("add", err)
		check("printing the result", result.PrintTo(os.Stdout))
		fmt.Println()
	case "check":
		check("check", cni.CheckNetwork(ctx, conf, rt))
	case "del":
		check("del", cni.DelNetwork(ctx, conf, rt))
	}
}

// run performs add, check or del through libcni's network-list calls.
func run(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList,
	cmd string, rt *libcni.RuntimeConf) {
	switch cmd {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		check("add", err)
		check("printing the result", result.PrintTo(os.Stdout))
		fmt.Println()
	case "check":
		check("check", cni.CheckNetworkList(ctx, list, rt))
	case "del":
		check("del", cni.DelNetworkList(ctx, list, rt))
	}
}

// eachPlugin runs COMMAND (GC or STATUS) on every plugin of the list the way
// libcni 1.2 does: name and cniVersion (and extra keys) injected, no
// container, netns or ifname. GC errors are collected, STATUS stops at the
// first, as in libcni 1.2.
func eachPlugin(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList,
	command, cniVersion string, extra map[string]interface{}) error {
	inject := map[string]interface{}{"name": list.Name, "cniVersion": cniVersion}
	for k, v := range extra {
		inject[k] = v
	}
	var errs []error
	for _, plugin := range list.Plugins {
		conf, err := libcni.InjectConf(plugin, inject)
		if err == nil {
			var path string
			path, err = invoke.FindInPath(plugin.Network.Type, cni.Path)
			if err == nil {
				err = invoke.ExecPluginWithoutResult(ctx, path, conf.Bytes, &invoke.Args{
					Command: command,
					Path:    strings.Join(cni.Path, string(os.PathListSeparator)),
				}, nil)
			}
		}
		if err != nil {
			err = fmt.Errorf("plugin type=%q: %w", plugin.Network.Type, err)
			if command == "STATUS" {
				return err
			}
			errs = append(errs, err)
		}
	}
	return joinErrors(errs)
}

// joinErrors is errors.Join, which Debian's Go 1.19 lacks (a single error is
// returned as is, so errors.As still finds its CNI code).
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

func cniPath() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("CNI_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		fail("CNI_PATH is empty", nil)
	}
	return dirs
}

func check(what string, err error) {
	if err != nil {
		fail(what+" failed", err)
	}
}

// fail prints WHAT and ERR (with the plugin's CNI error code when there is
// one) on stderr and exits 1.
func fail(what string, err error) {
	msg := "driver: " + what
	if err != nil {
		var cniErr *types.Error
		if errors.As(err, &cniErr) {
			msg += fmt.Sprintf(" (CNI error code %d)", cniErr.Code)
		}
		msg += ": " + err.Error()
	}
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}
