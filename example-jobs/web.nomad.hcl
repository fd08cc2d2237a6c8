# web.nomad.hcl — a web service in pot jails, two instances, registered in
# Consul with an HTTP health check, fronted by haproxy (haproxy.cfg beside
# this file) through Consul DNS.
#
# On a FreeBSD Nomad client with pot and nomad-pot-driver installed:
#
#   nomad job run web.nomad.hcl
#   nomad job status web                     # two allocations running
#   dig @127.0.0.1 -p 8600 _web._tcp.service.consul SRV
#   haproxy -f haproxy.cfg                    # then: curl http://127.0.0.1:8080/
#
# Each instance is a jail cloned from the image `var.image`, fetched once
# from `var.image_url` (pot prepare fetches IMAGE_TAG.xz from there and keeps
# the image as a pot for the next start). The default is potluck's nginx
# image; check https://potluck.honeyguide.net/ for the image name and tag
# matching your FreeBSD release. Any image works whose `command` stays in
# the foreground and serves HTTP on `var.port` inside the jail.
#
# Networking: the jail gets its own address on pot's public bridge
# (network_mode "public-bridge", the default). Nomad picks a free host port
# for the "http" label; the driver has pot export it to `var.port` in the
# jail. The service is registered with the host's address and that port
# (address_mode = "host"), which is what haproxy and the check connect to.
#
# The Linux end-to-end tests run this file with potsim and a small test web
# server, overriding the variables below, e.g.:
#
#   nomad job run -var image_url=http://127.0.0.1:PORT/images \
#     -var image=e2e-base -var tag=1.0 -var command=/path/to/webserver \
#     -var 'args=["-port","8080"]' -var port=8080 web.nomad.hcl

variable "image_url" {
  description = "Base URL of the image server (pot prepare -U)."
  type        = string
  default     = "https://potluck.honeyguide.net/nginx-nomad"
}

variable "image" {
  description = "Image name (pot prepare -p)."
  type        = string
  default     = "nginx-nomad-amd64-13_1"
}

variable "tag" {
  description = "Image tag (pot prepare -t)."
  type        = string
  default     = "1.1.13"
}

variable "command" {
  description = "The program the jail runs, in the foreground."
  type        = string
  default     = "nginx"
}

variable "args" {
  description = "Its arguments, each passed as exactly one argument."
  type        = list(string)
  default     = ["-g", "daemon off;"]
}

variable "port" {
  description = "The port the program listens on inside the jail."
  type        = number
  default     = 80
}

variable "instances" {
  description = "How many instances to run."
  type        = number
  default     = 2
}

variable "shutdown_delay" {
  description = "How long an instance keeps serving after its service is deregistered, before it is stopped: haproxy has stopped sending it requests by then (drains and updates lose none)."
  type        = string
  default     = "5s"
}

job "web" {
  type = "service"

  group "web" {
    count = var.instances

    # Over several clients, as evenly as they allow.
    spread {
      attribute = "${node.unique.id}"
    }

    # Consul forgets the instance first; it is stopped this long after.
    shutdown_delay = var.shutdown_delay

    network {
      # Nomad allocates a free host port; `to` is the port in the jail.
      port "http" {
        to = var.port
      }
    }

    # Replace instances one at a time, each healthy for 5 s before the next.
    update {
      max_parallel     = 1
      health_check     = "checks"
      min_healthy_time = "5s"
      healthy_deadline = "2m"
      auto_revert      = true
    }

    service {
      name         = "web"
      provider     = "consul"
      port         = "http"
      address_mode = "host"
      tags         = ["pot", "http"]

      check {
        name     = "web http"
        type     = "http"
        path     = "/"
        interval = "5s"
        timeout  = "2s"
      }
    }

    task "web" {
      driver = "pot"

      config {
        image        = var.image_url
        pot          = var.image
        tag          = var.tag
        command      = var.command
        # Each of args reaches the program as exactly one argument (without
        # it, command and args are the jail's sh command line, as with the
        # bsdpot driver).
        exact_args = true
        args         = var.args
        network_mode = "public-bridge"
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
