"""AWS building blocks of the cluster: network, security, node groups, API load balancer, the
event-driven DNS and the in-cluster cloud integration."""
