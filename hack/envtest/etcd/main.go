// Command etcd is upstream etcd's own main, built from the version that
// k8s.io/kubernetes selects, so the control plane needs no downloaded binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
