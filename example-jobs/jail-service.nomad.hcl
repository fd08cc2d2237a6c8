# jail-service.nomad.hcl — a service reached at its jail's own address:
# registered in Consul twice, once by Nomad (the task's `service` block, with
# address_mode = "driver") and once by the pot driver itself (the task
# config's `consul` block), under two names so each can be looked up:
#
#   jail-http   Nomad's registration: with address_mode = "driver" the
#               jail's address and the port inside the jail (var.port);
#               with -var address_mode=host the host's address and the port
#               Nomad allocated (exported to the jail by pot). An HTTP check
#               from Consul, to the same address.
#   jail-pot    the driver's registration: always the jail's address and
#               port, with a TTL check the driver keeps passing while the
#               jail runs and turns critical the moment it stops. Needs the
#               pot plugin's consul block on the client (README.md).
#
# On a FreeBSD Nomad client with pot and nomad-pot-driver installed:
#
#   nomad job run jail-service.nomad.hcl
#   dig @127.0.0.1 -p 8600 jail-http.service.consul SRV   # jail address, port 80
#   dig @127.0.0.1 -p 8600 jail-pot.service.consul SRV    # the same, by the driver
#   curl http://JAIL_ADDRESS/                              # straight to the jail
#   haproxy -f haproxy-jail.cfg                            # then: curl http://127.0.0.1:8081/
#   nomad job run -var address_mode=host jail-service.nomad.hcl
#   dig @127.0.0.1 -p 8600 jail-http.service.consul SRV   # host address, allocated port
#
# address_mode = "driver" needs the jail's address to be reachable from
# where the clients (and Consul's check) are: pot's public bridge is
# reachable from the host itself; from elsewhere it needs routing. Host mode
# works wherever the host does. Nomad allows address_mode = "driver" only in
# a task's service block, not in a group's.
#
# Restart: when a jail dies (`pot stop` behind Nomad's back, a crash), the
# driver reports the exit at once, the driver's check turns critical, and
# Nomad restarts the task in a new pot after `delay`.
#
# Deployments: var.health_check = "checks" (the default) waits for Consul's
# checks before an instance counts as healthy; "task_states" only for the
# tasks to run, so a deployment goes on while Consul is away (the driver's
# registrations follow as soon as Consul answers again).
#
# The Linux end-to-end tests run this file with potsim and a small test web
# server (e2e/webserver), overriding the variables, e.g.:
#
#   nomad job run -var image_url=http://127.0.0.1:PORT/images \
#     -var image=e2e-base -var tag=1.0 -var command=/path/to/webserver \
#     -var 'args=["-port","8080"]' -var port=8080 jail-service.nomad.hcl

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

variable "address_mode" {
  description = "Address of Nomad's registration (jail-http): driver (the jail's) or host."
  type        = string
  default     = "driver"

  validation {
    condition     = contains(["driver", "host"], var.address_mode)
    error_message = "The address_mode must be \"driver\" or \"host\"."
  }
}

variable "health_check" {
  description = "What makes an instance healthy in a deployment: checks or task_states."
  type        = string
  default     = "checks"
}

variable "release" {
  description = "A label of the deployed version: changing it replaces every instance."
  type        = string
  default     = "1"
}

job "jail-service" {
  type = "service"

  group "app" {
    count = var.instances

    network {
      # Nomad allocates a free host port (used in host mode); `to` is the
      # port in the jail (used in driver mode).
      port "http" {
        to = var.port
      }
    }

    # A jail that dies is started again (in a new pot) after 5 s.
    restart {
      attempts = 3
      interval = "5m"
      delay    = "5s"
      mode     = "fail"
    }

    update {
      max_parallel     = 1
      health_check     = var.health_check
      min_healthy_time = "5s"
      healthy_deadline = "2m"
    }

    task "app" {
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

        # The driver's own registration: the jail's address and its port
        # for the "http" label, a TTL check kept by the driver.
        consul {
          name = "jail-pot"
          tags = ["pot", "jail"]
          port = "http"
        }
      }

      # Nomad's registration. In a task's service block, address_mode
      # "driver" is the address and port map the driver returned for the
      # jail; "host" the allocated host port.
      service {
        name         = "jail-http"
        provider     = "consul"
        port         = "http"
        address_mode = var.address_mode
        tags         = ["pot", var.address_mode]

        check {
          name         = "jail http"
          type         = "http"
          path         = "/"
          interval     = "5s"
          timeout      = "2s"
          address_mode = var.address_mode
        }
      }

      env {
        RELEASE = var.release
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
