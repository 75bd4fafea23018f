// Package k8s runs Kubernetes' etcd3 storage tests against Cairn.
package k8s
