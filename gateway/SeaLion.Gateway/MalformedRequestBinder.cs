using Google.Protobuf;
using Grpc.Core;

namespace SeaLion.Gateway;

/// <summary>
/// Binds a service's methods with request deserializers that refuse bytes which are not a valid message: the call
/// ends INVALID_ARGUMENT naming the message type and what the parser found. grpc-dotnet parses the request before
/// any interceptor or handler runs and reports a deserializer's exception as UNKNOWN ("Exception was thrown by
/// handler"), so without this a client's malformed bytes (a truncated message, a wrong wire type, invalid UTF-8 in a
/// string field) read as a fault of the server.
/// </summary>
internal sealed class MalformedRequestBinder(ServiceBinderBase inner) : ServiceBinderBase
{
    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Refusing(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Refusing(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Refusing(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Refusing(method), handler);

    static Method<TRequest, TResponse> Refusing<TRequest, TResponse>(Method<TRequest, TResponse> method) where TRequest : class where TResponse : class
    {
        var parse = method.RequestMarshaller.ContextualDeserializer;
        string type = (Activator.CreateInstance<TRequest>() as IMessage)?.Descriptor.FullName ?? typeof(TRequest).Name;
        TRequest Parse(DeserializationContext context)
        {
            try { return parse(context); }
            catch (InvalidProtocolBufferException e)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"the request is not a valid {type}: {e.Message}"));
            }
        }
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name,
            new Marshaller<TRequest>(method.RequestMarshaller.ContextualSerializer, Parse), method.ResponseMarshaller);
    }
}
